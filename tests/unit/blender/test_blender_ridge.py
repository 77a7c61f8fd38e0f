"""Ridge risk-parity weights, temperature and the pooled rolling correlation (MATH.md s.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ridgeline_blender.ridge import (
    RollingCorrelation,
    apply_temperature,
    correlation_from_moments,
    entropy,
    pairwise_moments,
    ridge_risk_parity,
    target_vector,
)

pytestmark = pytest.mark.unit

finite = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)


def reference_weights(sigma: np.ndarray, mu: np.ndarray, lam: float) -> np.ndarray:
    """Independent: the inverse written out, clipped, normalised, equal if all vanish."""
    raw = np.linalg.inv(sigma + lam * np.identity(len(mu))).dot(mu)
    raw[raw < 0] = 0.0
    return raw / raw.sum() if raw.sum() > 0 else np.full(len(mu), 1.0 / len(mu))


# -- hand-computed cases -------------------------------------------------------------------


def test_target_vector_by_hand() -> None:
    # mu = IC - 0.5 x cost_share: 0.08 - 0.5 x 0.1 = 0.03 and 0.02 - 0.05 = -0.03.
    assert target_vector(np.array([0.08, 0.02]), 0.1, 0.5) == pytest.approx([0.03, -0.03])


def test_ridge_weights_identity_correlation_by_hand() -> None:
    # Sigma = I: (1.15 I)^-1 mu is mu / 1.15, so w = mu / sum(mu) = [2/3, 1/3].
    w = ridge_risk_parity(np.eye(2), np.array([0.10, 0.05]), 0.15)
    assert w == pytest.approx([2 / 3, 1 / 3])


def test_ridge_weights_correlated_by_hand() -> None:
    # A = [[1.15, .5], [.5, 1.15]], det 1.0725; A^-1 mu = [0.09, 0.0075] / 1.0725
    # -> w = [0.09, 0.0075] / 0.0975 = [0.923077, 0.076923]: correlation penalises the weaker one.
    sigma = np.array([[1.0, 0.5], [0.5, 1.0]])
    w = ridge_risk_parity(sigma, np.array([0.10, 0.05]), 0.15)
    assert w == pytest.approx([0.09 / 0.0975, 0.0075 / 0.0975])


def test_negative_weights_clipped_and_all_negative_is_equal() -> None:
    assert ridge_risk_parity(np.eye(2), np.array([0.1, -0.1]), 0.15) == pytest.approx([1.0, 0.0])
    assert ridge_risk_parity(np.eye(3), np.array([-0.1, -0.2, 0.0]), 0.15) == pytest.approx([1 / 3] * 3)


def test_temperature_by_hand() -> None:
    # w^0.5 of [0.8, 0.2] is [0.894, 0.447] -> [2/3, 1/3].
    assert apply_temperature(np.array([0.8, 0.2]), 0.5) == pytest.approx([2 / 3, 1 / 3])
    # T = 0.75 on [0.7, 0.2, 0.1]: 0.7^.75 = 0.76541, 0.2^.75 = 0.29907, 0.1^.75 = 0.17783.
    total = 0.7**0.75 + 0.2**0.75 + 0.1**0.75
    assert apply_temperature(np.array([0.7, 0.2, 0.1]), 0.75) == pytest.approx(
        [0.7**0.75 / total, 0.2**0.75 / total, 0.1**0.75 / total]
    )
    assert apply_temperature(np.array([1.0, 0.0]), 0.75) == pytest.approx([1.0, 0.0])


def test_pairwise_correlation_by_hand() -> None:
    # Families a, b perfectly correlated on rows 0-2; c is missing on row 2 and opposite on 0-1
    # (two points: correlation -1 with both).
    x = np.array([[1.0, 2.0, -1.0], [2.0, 4.0, -3.0], [3.0, 6.0, 0.0]])
    mask = np.array([[True, True, True], [True, True, True], [True, True, False]])
    corr = correlation_from_moments(pairwise_moments(x, mask), min_obs=2)
    assert corr == pytest.approx(np.array([[1, 1, -1], [1, 1, -1], [-1, -1, 1]]))
    # With min_obs 3 the (a, c) and (b, c) pairs have too few rows and count as uncorrelated.
    corr3 = correlation_from_moments(pairwise_moments(x, mask), min_obs=3)
    assert corr3 == pytest.approx(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]]))


# -- against independent numpy over random inputs -------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    b=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(-2, 2)),
    mu=st.lists(st.floats(-0.3, 0.3), min_size=5, max_size=5),
    lam=st.floats(0.05, 2.0),
)
def test_ridge_weights_match_numpy(b: np.ndarray, mu: list[float], lam: float) -> None:
    k = b.shape[0]
    cov = b @ b.T + 0.05 * np.eye(k)  # a random positive-definite covariance
    d = np.sqrt(np.diag(cov))
    sigma = cov / np.outer(d, d)
    m = np.array(mu[:k])
    w = ridge_risk_parity(sigma, m, lam)
    assert w == pytest.approx(reference_weights(sigma, m, lam), abs=1e-9)
    assert w.sum() == pytest.approx(1.0)
    assert (w >= 0).all()


@settings(max_examples=100, deadline=None)
@given(
    # Subnormal targets (below 2.2e-308) carry too few bits for the 1e-12 comparison with the
    # inverse written out; no IC or cost share is one.
    mus=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.just(3)),
        elements=st.floats(-0.3, 0.3, allow_subnormal=False),
    ),
)
def test_stacked_rows_solve_like_one_at_a_time(mus: np.ndarray) -> None:
    sigma = np.array([[1.0, 0.3, -0.2], [0.3, 1.0, 0.1], [-0.2, 0.1, 1.0]])
    together = ridge_risk_parity(sigma, mus, 0.15)
    for row, w in zip(mus, together, strict=True):
        assert w == pytest.approx(reference_weights(sigma, row, 0.15), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    w=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6).filter(lambda v: sum(v) > 1e-6),
    t=st.floats(0.05, 3.0),
)
def test_temperature_matches_numpy(w: list[float], t: float) -> None:
    arr = np.array(w) / sum(w)
    expected = np.power(arr, t) / np.power(arr, t).sum()
    assert apply_temperature(arr, t) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(w=st.lists(st.floats(1e-6, 1.0), min_size=2, max_size=6), t=st.sampled_from([0.75, 0.85, 0.9]))
def test_temperature_below_one_never_lowers_entropy(w: list[float], t: float) -> None:
    arr = np.array(w) / sum(w)
    assert entropy(apply_temperature(arr, t)) >= entropy(arr) - 1e-12


def test_temperature_strictly_raises_entropy_of_unequal_weights() -> None:
    w = np.array([0.7, 0.2, 0.1])
    assert entropy(apply_temperature(w, 0.75)) > entropy(w) + 0.05
    # The rejected reading w^(1/T) would concentrate them instead.
    assert entropy(apply_temperature(w, 1 / 0.75)) < entropy(w)


@settings(max_examples=150, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(3, 30), st.integers(2, 4)), elements=st.floats(-3, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_pairwise_correlation_matches_numpy(x: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random(x.shape) > 0.2
    corr = correlation_from_moments(pairwise_moments(x, mask), min_obs=3)
    k = x.shape[1]
    for i in range(k):
        for j in range(k):
            if i == j:
                assert corr[i, j] == 1.0
                continue
            rows = mask[:, i] & mask[:, j]
            a, b = x[rows, i], x[rows, j]
            if rows.sum() < 3 or a.std() < 1e-6 or b.std() < 1e-6:
                continue  # undefined (or all but constant): both conventions differ only there
            expected = np.corrcoef(a, b)[0, 1]
            assert corr[i, j] == pytest.approx(expected, abs=1e-7)


def test_rolling_window_forgets_old_ticks() -> None:
    rng = np.random.default_rng(7)
    rc = RollingCorrelation(k=3, window=4, min_obs=2)
    ticks = []
    for _ in range(9):
        x = rng.normal(size=(5, 3))
        x[:, 1] = x[:, 0] * (1 if len(ticks) < 5 else -1) + 0.1 * x[:, 1]
        mask = np.ones_like(x, dtype=bool)
        rc.push(x, mask)
        ticks.append(x)
    recent = np.vstack(ticks[-4:])
    assert rc.correlation() == pytest.approx(np.corrcoef(recent, rowvar=False), abs=1e-9)
    # Ticks 5..8 have b = -a: the window saw the regime change.
    assert rc.correlation()[0, 1] < -0.9
    assert rc.observations() == 20


def test_rolling_window_restores_identically() -> None:
    rng = np.random.default_rng(3)
    rc = RollingCorrelation(k=3, window=5, min_obs=2)
    for _ in range(7):
        rc.push(rng.normal(size=(4, 3)), rng.random((4, 3)) > 0.1)
    copy = RollingCorrelation.from_dict(rc.to_dict())
    assert np.array_equal(copy.correlation(), rc.correlation())
    x = rng.normal(size=(4, 3))
    rc.push(x, np.ones((4, 3), dtype=bool))
    copy.push(x, np.ones((4, 3), dtype=bool))
    assert np.array_equal(copy.correlation(), rc.correlation())


def test_empty_window_is_identity_and_entropy_of_uniform() -> None:
    assert np.array_equal(RollingCorrelation(2, 3, 2).correlation(), np.eye(2))
    assert entropy(np.full(4, 0.25)) == pytest.approx(math.log(4))
