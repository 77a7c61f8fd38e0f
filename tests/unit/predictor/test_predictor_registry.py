"""The registry: bundled models, session options, broken and NaN models, interval mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from predictor_kit import FAST, MODELS, copy_models, core, nan_model, real_bars, registry, replace_model, run

from ridgeline_predictor.features import DEFAULT_FEATURES

pytestmark = pytest.mark.unit

FAMILIES = ("gbt", "mlp", "ridge")
HORIZONS = ("5m", "10m", "15m", "30m", "60m", "1d")


def test_bundled_models_load_with_one_thread_and_no_spinning() -> None:
    reg = registry()
    assert reg.errors == {}
    assert sorted(reg.models) == sorted(
        [f"{f}_{h}" for f in FAMILIES for h in HORIZONS] + ["barrier_peak_5m", "barrier_valley_5m"]
    )
    for model in reg.models.values():
        options = model.session.get_session_options()
        assert options.intra_op_num_threads == 1
        assert options.inter_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert model.manifest.interval == "5m"
        assert model.manifest.features == list(DEFAULT_FEATURES)
    assert reg.models["gbt_1d"].horizon_bars == 288
    described = reg.describe()["models"]
    assert {d["name"] for d in described} == set(reg.models)
    assert all(d["version"] and "oos_ic" in d and d["training_period"]["start"] for d in described)
    total = sum(p.stat().st_size for p in MODELS.iterdir())
    assert total < 5_000_000


def test_broken_models_are_reported_and_skipped(tmp_path: Path) -> None:
    d = copy_models(tmp_path / "m")
    replace_model(d, "gbt_5m", b"this is not an onnx model")  # hash matches, onnxruntime refuses
    (d / "mlp_5m.onnx").write_bytes((d / "mlp_5m.onnx").read_bytes() + b"\0")  # hash mismatch
    (d / "ridge_5m.json").unlink()  # no manifest
    (d / "ridge_10m.json").write_text('{"name": "ridge_10m"}')  # invalid manifest
    reg = registry(d)
    assert sorted(reg.errors) == ["gbt_5m", "mlp_5m", "ridge_10m", "ridge_5m"]
    assert "onnxruntime could not load" in reg.errors["gbt_5m"]
    assert "sha256" in reg.errors["mlp_5m"]
    assert len(reg.models) == 16
    out = run(core(reg=reg), real_bars(["ETHBTC"], 0, 150))
    families_5m = {e.family for e in out[-1].entries if e.horizon == "5m"}
    assert families_5m == set()  # every 5m regressor failed to load
    assert {e.horizon for e in out[-1].entries} == {"10m", "15m", "30m", "60m", "1d"}


def test_nan_outputs_are_reported_and_dropped_never_crash(tmp_path: Path) -> None:
    d = copy_models(tmp_path / "m")
    replace_model(d, "mlp_5m", nan_model(len(DEFAULT_FEATURES)))
    reg = registry(d)
    assert reg.errors == {}
    out = run(core(reg=reg), real_bars(["ETHBTC", "LTCBTC"], 0, 160))
    last = out[-1]
    assert ("5m", "mlp") not in {(e.horizon, e.family) for e in last.entries}
    assert len(last.entries) == 17
    model = reg.models["mlp_5m"]
    assert model.nan_rows == 2 * (160 - 144)
    assert model.describe()["status"] == "degraded"


def test_a_failing_session_is_skipped_for_the_tick() -> None:
    reg = registry()
    model = reg.models["ridge_60m"]

    class Broken:
        def run(self, *_: object) -> object:
            raise RuntimeError("boom")

    model.session = Broken()  # type: ignore[assignment]
    out = run(core(FAST.model_copy(update={"onnx_compose": False}), reg=reg), real_bars(["ETHBTC"], 0, 150))
    assert ("60m", "ridge") not in {(e.horizon, e.family) for e in out[-1].entries}
    assert model.failures == 6
    assert "boom" in (model.last_error or "")


def test_running_at_another_interval_maps_minutes_or_refuses() -> None:
    one_minute = registry(interval="1m")
    assert one_minute.errors == {}
    assert one_minute.models["gbt_5m"].horizon_bars == 5
    assert one_minute.models["gbt_1d"].horizon_bars == 1440
    assert one_minute.models["gbt_5m"].lookback == 721  # ret_720m = 720 one-minute bars
    refused = registry(interval="1m", allow_mapping=False)
    assert not refused.models
    assert all("mapping disabled" in e for e in refused.errors.values())
    fifteen = registry(interval="15m", horizons=("15m", "30m"))
    assert not fifteen.models
    assert all("ret_5m" in e and "not a whole number" in e for e in fifteen.errors.values())


def test_unconfigured_horizons_are_skipped_not_errors() -> None:
    reg = registry(horizons=("5m", "1d"))
    assert reg.errors == {}
    assert sorted(m.name for m in reg.regressors) == [
        "gbt_1d",
        "gbt_5m",
        "mlp_1d",
        "mlp_5m",
        "ridge_1d",
        "ridge_5m",
    ]
    assert reg.barrier("barrier_peak") is not None
    assert "horizon 10m is not configured" in reg.skipped["gbt_10m"]
    assert np.isfinite(reg.models["gbt_5m"].manifest.oos_ic)


def test_missing_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    reg = registry(tmp_path / "nowhere")
    assert not reg.models
    assert "does not exist" in reg.errors["<directory>"]
