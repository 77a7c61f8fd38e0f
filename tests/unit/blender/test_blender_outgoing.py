"""Signals the blender builds without validation equal, and serialise exactly as, validated ones;
anything the direct way cannot vouch for is validated, and refused, as before."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from blender_helpers import HORIZONS, entry, predictions, real_bars
from pydantic import BaseModel, ValidationError
from test_blender_core import CHEAP, CHEAP_MARKET, Driver, blender

from ridgeline_blender import outgoing
from ridgeline_blender.config import BanditConfig
from ridgeline_shared.messages import Signal

pytestmark = pytest.mark.unit


def same_as_validated(message: BaseModel, validated: BaseModel) -> None:
    assert message == validated
    assert message.model_dump_json() == validated.model_dump_json()
    assert list(message.__dict__) == list(validated.__dict__)
    assert message.model_fields_set == validated.model_fields_set
    for name, value in message.__dict__.items():
        if isinstance(value, BaseModel):
            same_as_validated(value, getattr(validated, name))
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            for a, b in zip(value, getattr(validated, name), strict=True):
                same_as_validated(a, b)


def test_built_signals_equal_the_validated_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[dict[str, Any], Signal]] = []
    build = outgoing.signal

    def spy(values: dict[str, Any], checked: float, trusted: bool) -> Signal:
        given = copy.deepcopy(values)
        built = build(values, checked, trusted)
        seen.append((given, built))
        return built

    monkeypatch.setattr(outgoing, "signal", spy)
    d = Driver(blender(CHEAP_MARKET, cost=CHEAP, bandit=BanditConfig(warm_start_updates=3)), warming=0.1)
    for k in range(80):
        d.tick(k)
    assert len(seen) == 240
    for given, built in seen:
        given.pop("type")
        same_as_validated(built, Signal(**given))
    assert any(s.decision.value != "HOLD" for _, s in seen)


def test_a_figure_it_cannot_vouch_for_is_validated_and_refused() -> None:
    core = blender()
    bars = real_bars("ETHBTC")
    for bar in bars[:30]:
        core.on_bar(bar)
    core.add_predictions(predictions(bars[29], [entry(h, "gbt", 1.0) for h in HORIZONS]))
    (good,) = core.end_tick()
    values: dict[str, Any] = good.model_dump()
    del values["schema_version"]  # the rest in schema order, "type" included, as the core passes them
    values["horizons"][2]["alpha_bps"] = math.nan
    with pytest.raises(ValidationError, match="finite"):
        outgoing.signal(copy.deepcopy(values), math.nan, True)
    values["horizons"][2]["alpha_bps"] = 1.0
    values["spread_bps"] = -1.0
    # The caller vouches for the signs; without that, validation has the last word.
    with pytest.raises(ValidationError, match="greater than or equal"):
        outgoing.signal(copy.deepcopy(values), 0.0, False)
    values["spread_bps"] = 1.0
    expected = Signal.model_validate({k: v for k, v in copy.deepcopy(values).items() if k != "type"})
    assert outgoing.signal(copy.deepcopy(values), 0.0, False) == expected
    same_as_validated(outgoing.signal(copy.deepcopy(values), 0.0, True), expected)


def test_only_valid_horizon_names_are_trusted() -> None:
    assert outgoing.can_trust(list(HORIZONS))
    assert not outgoing.can_trust(["5m", "1 day"])
    assert not outgoing.can_trust([f"{5 * i}m" for i in range(1, 18)])
