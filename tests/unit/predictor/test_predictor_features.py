"""The feature builder: hand-computed values, interval mapping, no look-ahead, and serving
features equal to training features for the same bars."""

from __future__ import annotations

import math

import numpy as np
import pytest
from predictor_kit import core, history, real_bars, run, ticks

from ridgeline_predictor.features import (
    DEFAULT_FEATURES,
    FeatureMappingError,
    history_features,
    lookback_bars,
    parse_feature,
    window_features,
)

pytestmark = pytest.mark.unit


def _window() -> np.ndarray:
    # open, high, low, close, volume of 4 bars
    return np.array(
        [
            [[10.0, 11.0, 9.0, 10.0, 100.0],
             [10.0, 12.0, 10.0, 11.0, 200.0],
             [11.0, 11.5, 10.5, 11.0, 100.0],
             [11.0, 13.0, 10.0, 12.0, 400.0]]
        ]
    )  # fmt: skip


def test_hand_computed_features_at_5m() -> None:
    names = ["ret_5m", "ret_15m", "rvol_15m", "range_5m", "range_15m", "volz_15m", "pos_15m", "gap_15m"]
    got = window_features(_window(), names, 5)[0]
    r = [math.log(11 / 10), math.log(11 / 11), math.log(12 / 11)]
    vols = [math.log1p(200.0), math.log1p(100.0), math.log1p(400.0)]
    mean = sum(vols) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in vols) / 3)
    expected = [
        math.log(12 / 11) * 1e4,
        math.log(12 / 10) * 1e4,
        math.sqrt(sum(x * x for x in r)) * 1e4,
        math.log(13 / 10) * 1e4,
        math.log(13 / 10) * 1e4,
        (vols[-1] - mean) / std,
        (12 - 10) / (13 - 10) - 0.5,
        math.log(12 / ((11 + 11 + 12) / 3)) * 1e4,
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_names_map_by_minutes_or_refuse() -> None:
    spec = parse_feature("ret_15m")
    assert (spec.kind, spec.minutes) == ("ret", 15)
    assert spec.bars(5) == 3
    assert spec.bars(1) == 15
    assert parse_feature("ret_1h").minutes == 60
    with pytest.raises(FeatureMappingError, match="not a whole number"):
        parse_feature("ret_5m").bars(15)
    with pytest.raises(FeatureMappingError, match="unknown feature"):
        parse_feature("momentum_5m")
    assert lookback_bars(["ret_5m", "rvol_60m"], 5) == 13
    assert lookback_bars(DEFAULT_FEATURES, 5) == 145


def test_flat_volume_and_range_give_zero_not_nan() -> None:
    w = np.ones((1, 13, 5))
    got = window_features(w, ["volz_60m", "pos_60m", "range_60m", "rvol_60m", "ret_60m"], 5)
    assert np.array_equal(got, np.zeros((1, 5)))


def test_features_never_look_ahead() -> None:
    bars = history("ETHBTC").bars[:600].copy()
    before = history_features(bars, DEFAULT_FEATURES, 5)
    changed = bars.copy()
    changed[400:] *= 1.7  # rewrite the future of row 399
    after = history_features(changed, DEFAULT_FEATURES, 5)
    assert np.array_equal(before[:400], after[:400], equal_nan=True)
    assert not np.allclose(before[400:], after[400:])


def test_serving_features_equal_training_features() -> None:
    """The same bars through the serving core (buffers, batched windows) and the training path
    (sliding windows over the whole history) give bit-identical feature rows."""
    symbols = ["ETHBTC", "TRXBTC"]  # TRXBTC has gaps in its bars
    c = core()
    served: dict[str, list[np.ndarray]] = {s: [] for s in symbols}
    for bar_list in ticks(real_bars(symbols, 0, 400)):
        for bar in bar_list:
            c.add(bar)
        c.tick()
        names, X = c.last_features
        for i, name in enumerate(names):
            served[name].append(X[i])
    assert c.plan.features == DEFAULT_FEATURES
    for s in symbols:
        trained = history_features(history(s).bars[:400], DEFAULT_FEATURES, 5)
        trained = trained[np.all(np.isfinite(trained), axis=1)]
        got = np.array(served[s])
        assert got.shape == trained.shape == (400 - 144, len(DEFAULT_FEATURES))
        assert np.array_equal(got, trained)


def test_core_emits_nothing_but_empty_entries_before_the_lookback() -> None:
    c = core()
    out = run(c, real_bars(["ETHBTC"], 0, 146))
    assert [len(p.entries) for p in out[:144]] == [0] * 144
    assert out[144].entries and out[144].barrier is not None
