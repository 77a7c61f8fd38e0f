"""Training: reproducible manifests, ONNX equal to the framework models, labels, purged
walk-forward splits, and the look-ahead test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from predictor_kit import data_dir, history

from ridgeline_predictor.features import DEFAULT_FEATURES
from ridgeline_predictor.manifest import Manifest
from ridgeline_predictor.registry import SessionSettings, make_session
from ridgeline_predictor.training import families
from ridgeline_predictor.training.cli import main
from ridgeline_predictor.training.data import History, load_dir
from ridgeline_predictor.training.dataset import barrier_labels, build_dataset, forward_return_bps
from ridgeline_predictor.training.export import to_onnx
from ridgeline_predictor.training.splits import walk_forward
from ridgeline_predictor.training.train import TrainConfig, evaluate, train

pytestmark = pytest.mark.unit


def small(out: Path) -> TrainConfig:
    return TrainConfig(
        data_dir=data_dir(),
        out_dir=out,
        symbols=("ETHBTC", "LTCBTC"),
        tail_rows=1500,
        min_rows=0,
        horizons=("5m", "30m"),
        folds=2,
    )


def test_same_data_gives_byte_identical_manifests_and_models(tmp_path: Path) -> None:
    first = train(small(tmp_path / "a"), log=lambda _: None)
    train(small(tmp_path / "b"), log=lambda _: None)
    assert [m.name for m in first] == [
        "gbt_5m", "mlp_5m", "ridge_5m", "gbt_30m", "mlp_30m", "ridge_30m",
        "barrier_peak_5m", "barrier_valley_5m",
    ]  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(files) == 2 * 8 + 1
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "gbt_30m.json").read_text())
    assert list(manifest) == sorted(manifest)
    assert manifest["horizon_bars"] == 6
    assert manifest["purge_bars"] == 6
    assert manifest["features"] == list(DEFAULT_FEATURES)
    assert manifest["interval"] == "5m"
    assert manifest["folds"] == 2
    assert all(len(repr(x).split(".")[-1]) <= 6 for x in manifest["oos_ic_folds"])
    assert Manifest.model_validate(manifest).version == first[3].version


@pytest.mark.parametrize("family", ["gbt", "ridge", "mlp", "barrier_peak"])
def test_onnx_output_equals_framework_output(family: str) -> None:
    hs = [history("ETHBTC"), history("XLMBTC")]
    data = build_dataset(hs, DEFAULT_FEATURES, {"5m": 1}, 1)
    rows = np.arange(0, 4000)
    y = data.peak if family == "barrier_peak" else data.targets["5m"]
    rows = rows[np.isfinite(y[rows])]
    model = families.fit(families.make_model(family, 7), data.X[rows], y[rows])
    exported = to_onnx(model, len(DEFAULT_FEATURES), f"{family}_5m")
    session = make_session(exported.data, SessionSettings())
    test = data.X[4000:6000]
    out = session.run([exported.output_name], {exported.input_name: test})[0]
    onnx_pred = out[:, exported.output_column] if exported.output_column is not None else out.reshape(-1)
    framework = families.predict(model, test)
    scale = float(np.std(framework)) or 1.0
    # float32 inference vs the framework's float64: equal to well under a thousandth of the spread
    np.testing.assert_allclose(onnx_pred, framework, rtol=1e-4, atol=1e-4 * scale)


def test_shuffled_future_returns_drive_out_of_sample_ic_to_zero() -> None:
    """Look-ahead test: with the labels permuted, anything the pipeline still 'predicts' out of
    sample could only come from a leak. The real labels keep a clearly positive IC."""
    hs, _ = load_dir(data_dir(), "5m", (), 2880)
    data = build_dataset(hs, DEFAULT_FEATURES, {"5m": 1}, 1)
    y = data.targets["5m"]
    cfg = TrainConfig(data_dir=data_dir(), out_dir=Path("unused"))
    shuffled = y.copy()
    finite = np.nonzero(np.isfinite(y))[0]
    shuffled[finite] = np.random.default_rng(0).permutation(y[finite])
    for family in ("ridge", "gbt"):
        real = evaluate(data, family, y, 300, cfg)
        fake = evaluate(data, family, shuffled, 300, cfg)
        assert np.mean(real.ics) > 0.1, family
        assert abs(np.mean(fake.ics)) < 0.02, (family, fake.ics)
        assert max(abs(x) for x in fake.ics) < 0.04, (family, fake.ics)


def test_walk_forward_purges_the_horizon_between_train_and_test() -> None:
    t = np.repeat(np.arange(0, 1000 * 300, 300, dtype=np.int64), 3)  # 3 symbols, 5m apart
    purge = 12 * 300
    folds = walk_forward(t, folds=4, initial_fraction=0.4, purge_s=purge)
    assert len(folds) == 4
    previous_end = -1
    for fold in folds:
        assert t[fold.train].max() + purge < t[fold.test].min()
        assert t[fold.test].min() >= fold.test_start > previous_end
        assert t[fold.test].max() < fold.test_end
        previous_end = int(t[fold.test].max())
    assert sum(f.test.size for f in folds) == int((t >= folds[0].test_start).sum())


def test_labels_look_forward_and_respect_gaps() -> None:
    event_s = np.array([300, 600, 900, 1500, 1800], dtype=np.int64)  # a gap after 900
    bars = np.array(
        [[1, 10, 9, 10, 1], [1, 12, 10, 11, 1], [1, 11, 8, 9, 1], [1, 9.5, 8.5, 9, 1], [1, 9, 8, 8.5, 1]],
        dtype=np.float64,
    )
    h = History("X", "5m", event_s, bars)
    r = forward_return_bps(h, 1)
    np.testing.assert_allclose(r[:2], [np.log(11 / 10) * 1e4, np.log(9 / 11) * 1e4])
    assert np.isnan(r[2])  # 900 -> 1500 is two bars: no label across the gap
    assert r[3] == pytest.approx(np.log(8.5 / 9) * 1e4)
    assert np.isnan(r[4])
    peak, valley = barrier_labels(h, 1)
    # peak: next high does not exceed this high; valley: next low does not undercut this low
    np.testing.assert_array_equal(peak[:2], [0.0, 1.0])
    np.testing.assert_array_equal(valley[:2], [1.0, 0.0])
    assert np.isnan(peak[2]) and np.isnan(valley[4])
    assert peak[3] == 1.0 and valley[3] == 0.0


def test_cli_regenerates_a_models_directory(tmp_path: Path) -> None:
    out = tmp_path / "models"
    out.mkdir()
    (out / "stale.onnx").write_bytes(b"old")
    code = main(["--data", str(data_dir()), "--out", str(out), "--symbols", "ETHBTC", "--horizons", "5m",
                 "--folds", "2"])  # fmt: skip
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert "stale.onnx" not in names
    assert names == sorted(
        [f"{m}.{ext}" for m in ("gbt_5m", "mlp_5m", "ridge_5m", "barrier_peak_5m", "barrier_valley_5m")
         for ext in ("json", "onnx")] + ["training_summary.json"]
    )  # fmt: skip
    assert main(["--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
