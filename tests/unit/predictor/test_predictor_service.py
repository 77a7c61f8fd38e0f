"""The adapter: settings, tick handling, /models, the reload command, readiness, snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from predictor_kit import MODELS, copy_models, real_bars, replace_model, ticks

from ridgeline_predictor.config import PredictorConfig, PredictorSettings, bundled_models_dir
from ridgeline_predictor.service import PredictorService
from ridgeline_shared.keys import Stream
from ridgeline_shared.runtime.service import CommandError, Input, Outbox

pytestmark = pytest.mark.unit


def service(models_dir: Path | None = None, **predictor: object) -> PredictorService:
    cfg = PredictorConfig(models_dir=models_dir, z_min_samples=20, **predictor)  # type: ignore[arg-type]
    return PredictorService(PredictorSettings(predictor=cfg))


def test_declares_its_streams_and_defaults_to_the_bundled_models(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PredictorService.name == "predictor"
    assert PredictorService.inputs == (Input(Stream.BARS),)
    assert PredictorService.outputs == (Stream.PREDICTIONS,)
    assert PredictorService.commands == ("reload_models",)
    assert PredictorSettings().predictor.resolved_models_dir() == bundled_models_dir() == MODELS
    monkeypatch.setenv("RIDGELINE_PREDICTOR__MODELS_DIR", "/elsewhere")
    monkeypatch.setenv("RIDGELINE_PREDICTOR__Z_MIN_SAMPLES", "50")
    settings = PredictorSettings()
    assert settings.predictor.resolved_models_dir() == Path("/elsewhere")
    assert settings.predictor.z_min_samples == 50


def test_ticks_emit_one_prediction_per_bar_sorted_by_symbol() -> None:
    svc = service()
    assert svc.ready() == (True, "20 models loaded")
    emitted = 0
    for tick in ticks(real_bars(["XLMBTC", "ETHBTC", "LTCBTC"], 0, 150)):
        out = Outbox()
        for bar in reversed(tick):
            svc.on_message(Stream.BARS, bar, out)
        assert out.messages == []
        svc.on_tick_end(tick[0].event_time, out)
        assert [s for s, _ in out.messages] == [Stream.PREDICTIONS] * len(tick)
        assert [m.symbol for _, m in out.messages] == ["ETHBTC", "LTCBTC", "XLMBTC"]  # type: ignore[attr-defined]
        emitted += len(out.messages)
    assert emitted == 450
    status = svc.status()
    assert status["symbols"] == 3 and status["messages"] == 450


def test_models_route_lists_every_model() -> None:
    svc = service()
    app = FastAPI()
    app.include_router(svc.router())
    body = TestClient(app).get("/models").json()
    assert len(body["models"]) == 20
    gbt = next(m for m in body["models"] if m["name"] == "gbt_5m")
    assert gbt["family"] == "gbt" and gbt["horizon"] == "5m" and gbt["interval"] == "5m"
    assert len(gbt["version"]) == 12 and gbt["status"] == "ok"
    assert body["errors"] == {}


def test_reload_command_swaps_models_between_ticks_or_refuses(tmp_path: Path) -> None:
    svc = service()
    for tick in ticks(real_bars(["ETHBTC"], 0, 170)):
        out = Outbox()
        for bar in tick:
            svc.on_message(Stream.BARS, bar, out)
        svc.on_tick_end(None, out)
    with pytest.raises(CommandError, match="no usable model"):
        svc.apply_command("reload_models", {"models_dir": str(tmp_path / "empty")}, Outbox())
    with pytest.raises(CommandError, match="string"):
        svc.apply_command("reload_models", {"models_dir": 3}, Outbox())
    with pytest.raises(CommandError, match="unknown"):
        svc.apply_command("pause", {}, Outbox())
    assert len(svc.registry.models) == 20  # the refused reloads changed nothing
    d = copy_models(tmp_path / "v2")
    replace_model(d, "ridge_5m", (d / "mlp_5m.onnx").read_bytes())
    (d / "gbt_1d.onnx").unlink()
    result = svc.apply_command("reload_models", {"models_dir": str(d)}, Outbox())
    assert result["changed"] == ["ridge_5m"]
    assert result["removed"] == ["gbt_1d"]
    assert result["errors"] == {}
    assert result["loaded"] == 19
    out = Outbox()
    bar = real_bars(["ETHBTC"], 170, 171)[0]
    svc.on_message(Stream.BARS, bar, out)
    svc.on_tick_end(bar.event_time, out)
    ((_, message),) = out.messages
    entries = {(e.horizon, e.family): e for e in message.entries}  # type: ignore[attr-defined]
    assert ("1d", "gbt") not in entries
    assert entries[("5m", "ridge")].warming_up and not entries[("5m", "gbt")].warming_up


def test_not_ready_without_models_and_snapshot_round_trip(tmp_path: Path) -> None:
    empty = service(tmp_path)
    ok, reason = empty.ready()
    assert not ok and "no models" in reason
    svc = service()
    for tick in ticks(real_bars(["ETHBTC"], 0, 160)):
        out = Outbox()
        for bar in tick:
            svc.on_message(Stream.BARS, bar, out)
        svc.on_tick_end(None, out)
    other = service()
    other.restore(svc.snapshot())
    assert other.snapshot() == svc.snapshot()
    other.restore(None)
    assert len(other.core.buffer) == 0
