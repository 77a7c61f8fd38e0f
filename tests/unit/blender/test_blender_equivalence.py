"""The optimised tick (entry grid, stacked blend, lazy attributions) against the pre-batching one
(reference_core.py): the same Signals bit for bit, and the same state after, over runs that go
through every path: steady state, families warming up, a family appearing, configured families
and unknown horizons, stacking, estimated spreads, symbols coming and going, repeated messages,
realised outcomes feeding the bandits, and a snapshot / restore in the middle."""

from __future__ import annotations

import random
from typing import Any

import pytest
from blender_helpers import (
    FAMILIES,
    HORIZONS,
    entry,
    paper_fill,
    predictions,
    random_entries,
    real_bars,
)
from reference_core import ReferenceBlender

from ridgeline_blender.config import BanditConfig, BlenderConfig, CostConfig
from ridgeline_blender.core import Blender
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.messages import Bar, Decision, ModelPrediction, Signal

pytestmark = pytest.mark.unit

FILES = ("ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC")
CHEAP = CostConfig(k3=0.0)
CHEAP_MARKET = MarketConfig(default_spread_bps=1.0)


def symbol_bars(n: int) -> dict[str, tuple[Bar, ...]]:
    """``n`` symbols on the bundled bars (reused under distinct names past the five files)."""
    out = {}
    for i in range(n):
        name = FILES[i % len(FILES)] if i < len(FILES) else f"S{i:03d}"
        out[name] = tuple(b.model_copy(update={"symbol": name}) for b in real_bars(FILES[i % len(FILES)]))
    return out


class Twin:
    """One core fed like the runtime feeds it (fills of earlier ticks, bars, predictions); a
    paper venue fills every BUY / SELL at the next bar's open, one tick later."""

    def __init__(self, core: Blender) -> None:
        self.core = core
        self.to_fill: list[Signal] = []
        self.fills_out: list[Any] = []

    def tick(
        self, k: int, bars: dict[str, tuple[Bar, ...]], messages: list[tuple[str, list[ModelPrediction]]]
    ) -> list[Signal]:
        for e in self.fills_out:
            self.core.on_execution(e)
        self.fills_out = []
        for series in bars.values():
            self.core.on_bar(series[k])
        for sig in self.to_fill:
            self.fills_out.append(paper_fill(sig, bars[sig.symbol][k], k))
        for sym, ents in messages:
            self.core.add_predictions(predictions(bars[sym][k], ents))
        out = self.core.end_tick()
        self.to_fill = [s for s in out if s.decision is not Decision.HOLD]
        return out


def state_of(core: Blender) -> dict[str, Any]:
    return {
        "alpha_abs": core.alpha_abs,
        "bandits": {
            h: (s.bandit.arms, s.bandit.log_u.tolist(), s.bandit.t) for h, s in core.horizons.items()
        },
        "families": {h: s.families for h, s in core.horizons.items()},
        "outcomes": core.outcomes.to_dict(),
        "counters": core.counters,
    }


def messages_for(
    k: int, symbols: list[str], scenario: str, rng: random.Random
) -> list[tuple[str, list[ModelPrediction]]]:
    out = []
    present = symbols
    if scenario == "coming_and_going":
        present = [s for s in symbols if rng.random() < 0.7]
    for sym in present:
        if scenario == "new_family":
            fams = FAMILIES if k < 40 else (*FAMILIES, "tcn")
            ents = random_entries(rng, 0.1, fams)
        elif scenario == "filtered":
            ents = random_entries(rng, 0.1, (*FAMILIES, "other"))
            ents.append(entry("7m", "gbt", 1.0))  # not a whole number of bars: ignored
        else:
            ents = random_entries(rng, {"warming": 0.3, "steady": 0.0}.get(scenario, 0.05))
        out.append((sym, ents))
    if scenario == "coming_and_going" and out:
        sym, _ = out[0]
        out.append((sym, random_entries(rng)))  # a second message for one symbol: it replaces
    rng.shuffle(out)
    return out


SCENARIOS: dict[str, dict[str, Any]] = {
    "steady": {},
    "warming": {},
    "new_family": {},
    "filtered": {"families": ("gbt", "mlp", "other")},
    "stacking": {"method": "stacking"},
    "estimate": {"market": MarketConfig(spread_source="estimate"), "cost": CostConfig()},
    "best_pick": {"arbitration_pick": "best"},
    "coming_and_going": {},
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_optimised_tick_equals_the_reference(scenario: str) -> None:
    options = dict(SCENARIOS[scenario])
    market = options.pop("market", CHEAP_MARKET)
    options.setdefault("cost", CHEAP)
    config = BlenderConfig(bandit=BanditConfig(warm_start_updates=4), corr_min_obs=10, **options)
    n_symbols = 12 if scenario in ("steady", "coming_and_going") else 4
    bars = symbol_bars(n_symbols)
    symbols = list(bars)
    fast = Twin(Blender(config, "5m", HORIZONS, market=market))
    slow = Twin(ReferenceBlender(config, "5m", HORIZONS, market=market))
    rng = random.Random(scenario)
    trades = 0
    for k in range(90):
        messages = messages_for(k, symbols, scenario, rng)
        a, b = fast.tick(k, bars, messages), slow.tick(k, bars, messages)
        assert [s.model_dump_json() for s in a] == [s.model_dump_json() for s in b], f"tick {k}"
        trades += len(fast.to_fill)
        if k == 45:
            # A restart: the optimised core from its snapshot, the reference going on as it was.
            restored = Blender(config, "5m", HORIZONS, market=market)
            restored.restore(fast.core.snapshot())
            assert restored.snapshot() == fast.core.snapshot()
            assert restored.weights_view() == fast.core.weights_view()
            fast.core = restored
    assert state_of(fast.core) == state_of(slow.core)
    assert trades > 0
    assert fast.core.counters["bandit_updates"] > 0
