"""The adapter: routing, one Signal per symbol per tick, snapshot/restore, GET /weights, config."""

from __future__ import annotations

import random

import pytest
from blender_helpers import FAMILIES, HORIZONS, execution, predictions, random_entries, real_bars
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ridgeline_blender.config import BlenderSettings
from ridgeline_blender.service import BlenderService
from ridgeline_shared.config import ConfigError, load_settings
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import OrderSide, Signal, Watermark
from ridgeline_shared.runtime.service import Input, Outbox

pytestmark = pytest.mark.unit

SYMBOLS = ("ETHBTC", "LTCBTC")


def run_ticks(service: BlenderService, ticks: range) -> list[Outbox]:
    outs = []
    for k in ticks:
        out = Outbox()
        rng = random.Random(k)
        for s in SYMBOLS:
            service.on_message(Stream.BARS, real_bars(s)[k], out)
        for s in reversed(SYMBOLS):
            service.on_message(Stream.PREDICTIONS, predictions(real_bars(s)[k], random_entries(rng)), out)
        service.on_tick_end(real_bars(SYMBOLS[0])[k].event_time, out)
        outs.append(out)
    return outs


def test_declares_its_streams() -> None:
    assert BlenderService.name == "blender"
    assert BlenderService.inputs == (
        Input(Stream.BARS),
        Input(Stream.PREDICTIONS),
        Input(Stream.EXECUTIONS, lag=1),
    )
    assert BlenderService.outputs == (Stream.SIGNALS,)


def test_emits_one_signal_per_symbol_sorted() -> None:
    service = BlenderService(BlenderSettings())
    outs = run_ticks(service, range(25))
    for out in outs:
        assert [stream for stream, _ in out.messages] == [Stream.SIGNALS] * len(SYMBOLS)
        signals = [m for _, m in out.messages]
        assert all(isinstance(m, Signal) for m in signals)
        assert [m.symbol for m in signals] == sorted(SYMBOLS)  # type: ignore[attr-defined]
    assert service.status()["signals"] == 25 * len(SYMBOLS)


def test_executions_of_other_strategies_are_ignored_and_watermarks_refused() -> None:
    service = BlenderService(BlenderSettings())
    run_ticks(service, range(3))
    bar = real_bars("ETHBTC")[3]
    mine = execution("ETHBTC", real_bars("ETHBTC")[2].event_time, bar.event_time, side=OrderSide.BUY,
                     quantity="1", price="0.09")  # fmt: skip
    theirs = mine.model_copy(update={"strategy_id": "other", "client_order_id": "RL-2"})
    out = Outbox()
    service.on_message(Stream.EXECUTIONS, theirs, out)
    assert service.core.status()["fills_attributed"] + service.core.status()["unattributed_fills"] == 0
    service.on_message(Stream.EXECUTIONS, mine, out)
    assert service.core.status()["fills_attributed"] + service.core.status()["unattributed_fills"] == 1
    with pytest.raises(TypeError):
        service.on_message(Stream.BARS, Watermark(event_time=bar.event_time, trace_id="w", producer="x"), out)


def test_snapshot_restore_gives_identical_weights_and_outputs() -> None:
    a = BlenderService(BlenderSettings())
    run_ticks(a, range(60))
    b = BlenderService(BlenderSettings())
    b.restore(a.snapshot())
    assert b.weights() == a.weights()
    out_a, out_b = run_ticks(a, range(60, 90)), run_ticks(b, range(60, 90))
    assert [[m.model_dump_json() for _, m in o.messages] for o in out_a] == [
        [m.model_dump_json() for _, m in o.messages] for o in out_b
    ]
    assert a.snapshot() == b.snapshot()


def test_weights_route() -> None:
    service = BlenderService(BlenderSettings())
    app = FastAPI()
    app.include_router(service.router())
    client = TestClient(app)
    assert client.get("/weights").json()["horizons"]["5m"]["families"] == []
    run_ticks(service, range(30))
    body = client.get("/weights").json()
    assert body["method"] == "arbitration"
    assert list(body["horizons"]) == list(HORIZONS)
    five = body["horizons"]["5m"]
    assert five["families"] == list(FAMILIES)
    assert sum(five["bandit"]["probabilities"].values()) == pytest.approx(1.0)
    assert five["bandit"]["updates"] == 0
    assert five["bandit"]["in_blend"] is False
    eth = five["symbols"]["ETHBTC"]
    assert set(eth) == {"ridge", "bandit", "final"}
    assert sum(eth["final"].values()) == pytest.approx(1.0)
    assert len(five["correlation"]) == len(FAMILIES)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_BLENDER__METHOD", "stacking")
    monkeypatch.setenv("RIDGELINE_BLENDER__STACKING__DECAY", "inverse")
    monkeypatch.setenv("RIDGELINE_BLENDER__BANDIT__WARM_START_UPDATES", "50")
    monkeypatch.setenv("RIDGELINE_BLENDER__TEMPERATURE", '{"5m": 0.5}')
    settings = load_settings(BlenderSettings)
    assert settings.blender.method == "stacking"
    assert settings.blender.stacking.decay == "inverse"
    assert settings.blender.bandit.warm_start_updates == 50
    assert settings.blender.temperature == {"5m": 0.5}
    assert BlenderService(settings).core.specs[0].temperature == 0.5


def test_bad_settings_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_BLENDER__BANDIT__GAMMA", "-1")
    with pytest.raises(ConfigError, match="RIDGELINE_BLENDER__BANDIT__GAMMA"):
        load_settings(BlenderSettings)
    monkeypatch.delenv("RIDGELINE_BLENDER__BANDIT__GAMMA")
    monkeypatch.setenv("RIDGELINE_BLENDER__TEMPERATURE", '{"5x": 0.5}')
    with pytest.raises(ConfigError, match="temperature"):
        load_settings(BlenderSettings)
