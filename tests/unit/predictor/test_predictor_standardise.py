"""Rolling z-score standardisation against hand-computed cases and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ridgeline_predictor.standardise import RollingStandardiser

pytestmark = pytest.mark.unit

ONE = np.array([0], dtype=np.int64)


def push(std: RollingStandardiser, x: float) -> float:
    return float(std.update(ONE, np.array([x]))[0])


def test_warming_up_until_min_samples_then_hand_computed() -> None:
    std = RollingStandardiser(window=10, min_samples=4, clip=3.0, slots=1)
    assert all(math.isnan(push(std, x)) for x in (1.0, 2.0, 3.0, 4.0))
    # window [1, 2, 3, 4]: mean 2.5, sample std sqrt(5/3); z(5) = 2.5 / 1.290994...
    assert push(std, 5.0) == pytest.approx(2.5 / math.sqrt(5.0 / 3.0), rel=1e-12)
    # window [1..5]: mean 3, std sqrt(2.5); z(0) = -3 / 1.5811... = -1.897...
    assert push(std, 0.0) == pytest.approx(-3.0 / math.sqrt(2.5), rel=1e-12)


def test_clip_at_three_and_constant_window_is_zero() -> None:
    std = RollingStandardiser(window=5, min_samples=3, clip=3.0, slots=1)
    for x in (1.0, 1.0, 1.0):
        push(std, x)
    assert push(std, 7.0) == 0.0  # std of [1, 1, 1] is 0: no information, z = 0
    for extreme, clipped in ((100.0, 3.0), (-100.0, -3.0)):
        std2 = RollingStandardiser(window=5, min_samples=3, clip=3.0, slots=1)
        for x in (0.0, 1.0, 0.0, 1.0):
            push(std2, x)
        assert push(std2, extreme) == clipped


def test_window_rolls_and_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    window, n_slots = 37, 4
    std = RollingStandardiser(window=window, min_samples=10, clip=3.0, slots=n_slots)
    history: list[list[float]] = [[] for _ in range(n_slots)]
    for _ in range(300):
        slots = np.sort(rng.choice(n_slots, size=rng.integers(1, n_slots + 1), replace=False)).astype(
            np.int64
        )
        x = rng.normal(5.0, 2.0, size=slots.size)
        z = std.update(slots, x)
        for s, xi, zi in zip(slots, x, z, strict=True):
            past = history[s][-window:]
            if len(past) < 10:
                assert math.isnan(zi)
            else:
                ref = (xi - np.mean(past)) / np.std(past, ddof=1)
                assert zi == pytest.approx(float(np.clip(ref, -3, 3)), abs=1e-9)
            history[s].append(float(xi))


def test_nan_is_ignored_and_export_load_is_exact() -> None:
    rng = np.random.default_rng(5)
    a = RollingStandardiser(window=16, min_samples=4, clip=3.0, dtype=np.float32, slots=2)
    slots = np.array([0, 1], dtype=np.int64)
    for _ in range(40):
        a.update(slots, rng.normal(size=2).astype(np.float32).astype(np.float64))
    before = a.count.copy()
    a.update(slots, np.array([np.nan, np.nan]))
    assert np.array_equal(a.count, before)
    b = RollingStandardiser(window=16, min_samples=4, clip=3.0, dtype=np.float32)
    b.load({k: v.copy() for k, v in a.export(2).items()})
    for _ in range(30):
        x = rng.normal(size=2).astype(np.float32).astype(np.float64)
        assert np.array_equal(a.update(slots, x), b.update(slots, x))
    assert np.array_equal(a.s1, b.s1)
    assert np.array_equal(a.s2, b.s2)
