"""MATH.md s.3 gates against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from ridgeline_risk.config import RiskConfig
from ridgeline_risk.gates import barrier_gate, entry_block, entry_preferred, exit_triggered, spread_gate

pytestmark = pytest.mark.unit

CFG = RiskConfig()


def test_barrier_gate_long_by_hand() -> None:
    # (1 - 0.2)^1 x (0.5 + 0.5 x 0.6)^0.5 = 0.8 x sqrt(0.8)
    assert barrier_gate(0.2, 0.6, True, CFG) == pytest.approx(0.8 * math.sqrt(0.8), rel=1e-12)
    assert barrier_gate(0.2, 0.6, True, CFG) == pytest.approx(0.715541752799933, rel=1e-12)


def test_barrier_gate_short_swaps_peak_and_valley() -> None:
    # A short fears the valley: (1 - P_valley)^gamma x (0.5 + 0.5 P_peak)^delta.
    assert barrier_gate(0.6, 0.2, False, CFG) == pytest.approx(0.8 * math.sqrt(0.8), rel=1e-12)
    assert barrier_gate(0.2, 0.6, False, CFG) == pytest.approx(0.4 * math.sqrt(0.6), rel=1e-12)


def test_barrier_gate_is_floored_at_g_min_and_uses_gamma_delta() -> None:
    # 0.1 x sqrt(0.5) = 0.0707 < g_min
    assert barrier_gate(0.9, 0.0, True, CFG) == 0.2
    cfg = RiskConfig(gamma=2.0, delta=1.0, g_min=0.0)
    # (1 - 0.3)^2 x (0.5 + 0.5 x 0.4)^1 = 0.49 x 0.7
    assert barrier_gate(0.3, 0.4, True, cfg) == pytest.approx(0.343, rel=1e-12)


def test_missing_barrier_probabilities_make_the_gate_neutral() -> None:
    assert barrier_gate(None, None, True, CFG) == 1.0
    assert entry_block(None, None, 1.0, True, CFG) is None


def test_entry_block_on_peak_probability_and_on_low_gate() -> None:
    assert entry_block(0.61, 0.5, barrier_gate(0.61, 0.5, True, CFG), True, CFG) == "peak"
    # P_peak = 0.6 is not > 0.6, but g = 0.4 x sqrt(0.5) = 0.283 < 0.3
    g = barrier_gate(0.6, 0.0, True, CFG)
    assert g == pytest.approx(0.4 * math.sqrt(0.5))
    assert entry_block(0.6, 0.0, g, True, CFG) == "gate"
    # g = 0.4 x sqrt(0.6) = 0.3098 >= 0.3
    g = barrier_gate(0.6, 0.2, True, CFG)
    assert entry_block(0.6, 0.2, g, True, CFG) is None
    # The short side is blocked by the valley probability instead.
    assert entry_block(0.1, 0.7, barrier_gate(0.1, 0.7, False, CFG), False, CFG) == "peak"
    assert entry_block(0.7, 0.1, barrier_gate(0.7, 0.1, False, CFG), False, CFG) is None


def test_exit_rule_for_longs_and_shorts() -> None:
    assert exit_triggered(0.66, 0.1, 5.0, True, CFG)
    assert not exit_triggered(0.65, 0.1, 5.0, True, CFG)
    assert exit_triggered(0.1, 0.1, -0.01, True, CFG)
    assert not exit_triggered(0.1, 0.1, 0.0, True, CFG)
    assert exit_triggered(0.1, 0.66, -5.0, False, CFG)
    assert exit_triggered(0.1, 0.1, 0.01, False, CFG)
    assert not exit_triggered(0.9, 0.1, -5.0, False, CFG)
    assert exit_triggered(None, None, -1.0, True, CFG)
    assert not exit_triggered(None, None, 1.0, True, CFG)


def test_entry_preferred_needs_valley_above_threshold_and_rising() -> None:
    assert entry_preferred(0.1, 0.6, 0.5, True, CFG)
    assert not entry_preferred(0.1, 0.6, 0.6, True, CFG)  # not rising
    assert not entry_preferred(0.1, 0.55, 0.4, True, CFG)  # not above 0.55
    assert not entry_preferred(0.1, 0.6, None, True, CFG)  # no history
    assert entry_preferred(0.6, 0.1, 0.5, False, CFG)  # shorts look at the peak


def test_spread_gate_thresholds() -> None:
    assert spread_gate(12.0, 200.0, CFG) == spread_gate(0.0, 0.0, CFG)
    assert not spread_gate(12.0, 200.0, CFG).wide
    assert spread_gate(12.01, 0.0, CFG).wide
    assert not spread_gate(12.0, 200.0, CFG).stale
    assert spread_gate(0.0, 200.1, CFG).stale
