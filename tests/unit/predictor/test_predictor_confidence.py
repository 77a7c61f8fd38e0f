"""Confidence factors (MATH.md s.1) against hand-computed values, and the rank statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import roc_auc_score

from ridgeline_predictor import confidence as conf
from ridgeline_predictor.stats import auc, average_ranks, spearman
from ridgeline_predictor.tracking import ModelTracker

pytestmark = pytest.mark.unit


def test_ic_uses_prior_then_shrinks_toward_it() -> None:
    # below min_samples: the prior (manifest's out-of-sample IC) alone
    assert conf.ic_estimate(0.9, 5, 0.04, prior_samples=100, min_samples=30) == pytest.approx(0.04)
    # 300 samples at 0.10 with 100 pseudo-samples at 0.02: (30 + 2) / 400 = 0.08
    assert conf.ic_estimate(0.10, 300, 0.02, 100, 30) == pytest.approx(0.08)
    # negative IC counts as 0; a negative prior is 0 as well
    assert conf.ic_estimate(-0.2, 1000, 0.05, 100, 30) == 0.0
    assert conf.ic_estimate(0.0, 0, -0.05, 100, 30) == 0.0


def test_stability_is_one_over_one_plus_rmse() -> None:
    # prior MSE for IC 0.1 = 2 (1 - 0.1) = 1.8
    assert conf.stability(0.0, 0, 0.1, 100, 30) == pytest.approx(1.0 / (1.0 + math.sqrt(1.8)))
    # observed MSE 0.25 over 400 samples, prior 1.8 with weight 100: (100 + 180) / 500 = 0.56
    assert conf.stability(0.25, 400, 0.1, 100, 30) == pytest.approx(1.0 / (1.0 + math.sqrt(0.56)))
    # no prior weight: exactly 1 / (1 + RMSE)
    assert conf.stability(0.25, 400, 0.1, 0, 30) == pytest.approx(1.0 / 1.5)
    assert conf.stability(0.0, 400, 0.1, 0, 30) == 1.0


def test_freshness_tau_scales_with_horizon() -> None:
    assert conf.tau_seconds(5, 150.0) == 150.0
    assert conf.tau_seconds(10, 150.0) == 300.0
    assert conf.tau_seconds(1440, 150.0) == 43_200.0
    got = conf.freshness(np.array([0.0, 150.0, 300.0, -5.0]), 150.0)
    np.testing.assert_allclose(got, [1.0, math.exp(-1), math.exp(-2), 1.0])


def test_capacity_and_product() -> None:
    got = conf.capacity(np.array([0.0, 100.0, 1000.0, 5000.0]), kappa=0.1, planned_notional=50.0)
    np.testing.assert_allclose(got, [0.0, 0.2, 1.0, 1.0])
    ic, fresh, cap, stab = 0.08, math.exp(-1), 0.2, 1.0 / 1.5
    assert ic * fresh * cap * stab == pytest.approx(0.08 * 0.36787944 * 0.2 * 0.6666667, rel=1e-6)


def test_ranks_spearman_auc_match_references() -> None:
    rng = np.random.default_rng(11)
    x = rng.integers(0, 20, size=300).astype(float)  # many ties
    y = x + rng.normal(0, 5, size=300)
    np.testing.assert_allclose(average_ranks(x), rankdata(x))
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    labels = (y > 10).astype(float)
    assert auc(x, labels) == pytest.approx(roc_auc_score(labels, x), abs=1e-12)
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0


def test_tracker_pools_pairs_and_skips_nan() -> None:
    t = ModelTracker(window=4)
    t.add(np.array([1.0, 2.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0, 4.0]),
          np.array([0.5, np.nan, 0.0, 1.0]), np.array([0.0, 1.0, 1.0, 1.0]))  # fmt: skip
    assert t.ic() == (pytest.approx(1.0), 3)
    assert t.mse() == (pytest.approx((0.25 + 1.0 + 0.0) / 3), 3)
    t.add(np.array([4.0, 5.0]), np.array([2.0, 1.0]), np.full(2, np.nan), np.full(2, np.nan))
    # the window keeps the last 4 pairs: (2, 2) (3, 4) (4, 2) (5, 1)
    assert t.ic()[1] == 4
    assert t.ic()[0] == pytest.approx(spearmanr([2, 3, 4, 5], [2, 4, 2, 1]).statistic)
