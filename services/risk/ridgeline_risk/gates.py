"""MATH.md s.3 gates: the barrier gate (peak/valley probabilities) and the spread gate.

Long and short are mirror images: for a short, the peak and valley probabilities swap roles.
When the signal carries no barrier probabilities the barrier gate is neutral (g = 1, nothing
blocked): a missing barrier model is no evidence of a peak, and the volatility sizing still
applies.
"""

from __future__ import annotations

from typing import NamedTuple

from ridgeline_risk.config import RiskConfig


def _oriented(p_peak: float, p_valley: float, long: bool) -> tuple[float, float]:
    """(P of the adverse extreme, P of the favourable one) for the position's side."""
    return (p_peak, p_valley) if long else (p_valley, p_peak)


def barrier_gate(p_peak: float | None, p_valley: float | None, long: bool, cfg: RiskConfig) -> float:
    """``g = max(g_min, (1 - P_adverse)^gamma x (0.5 + 0.5 P_favourable)^delta)``."""
    if p_peak is None or p_valley is None:
        return 1.0
    adverse, favourable = _oriented(p_peak, p_valley, long)
    g: float = (1.0 - adverse) ** cfg.gamma * (0.5 + 0.5 * favourable) ** cfg.delta
    return max(cfg.g_min, g)


def entry_block(
    p_peak: float | None, p_valley: float | None, g: float, long: bool, cfg: RiskConfig
) -> str | None:
    """Why an entry on this side is blocked (``"peak"`` / ``"gate"``), or None."""
    if p_peak is not None and p_valley is not None:
        adverse, _ = _oriented(p_peak, p_valley, long)
        if adverse > cfg.peak_block:
            return "peak"
    if g < cfg.gate_block:
        return "gate"
    return None


def entry_preferred(
    p_peak: float | None,
    p_valley: float | None,
    previous_favourable: float | None,
    long: bool,
    cfg: RiskConfig,
) -> bool:
    """P_valley > 0.55 and rising (for a long). Informational: reported in the order's reason,
    it changes no size, because MATH.md gives it no weight in the sizing formula."""
    if p_peak is None or p_valley is None or previous_favourable is None:
        return False
    _, favourable = _oriented(p_peak, p_valley, long)
    return favourable > cfg.prefer_valley and favourable > previous_favourable


def exit_triggered(
    p_peak: float | None, p_valley: float | None, alpha_5m_bps: float, long: bool, cfg: RiskConfig
) -> bool:
    """A long is exited if P_peak > 0.65 or alpha_5m < 0; a short if P_valley > 0.65 or alpha_5m > 0."""
    if (alpha_5m_bps < 0.0) if long else (alpha_5m_bps > 0.0):
        return True
    if p_peak is None or p_valley is None:
        return False
    adverse, _ = _oriented(p_peak, p_valley, long)
    return adverse > cfg.exit_prob


class SpreadGate(NamedTuple):
    """``stale``: the data is too old to act on at all. ``wide``: the spread makes new exposure too
    expensive, but reducing exposure is still allowed (blocking an exit would keep the risk)."""

    stale: bool
    wide: bool


def spread_gate(spread_bps: float, data_age_ms: float, cfg: RiskConfig) -> SpreadGate:
    return SpreadGate(stale=data_age_ms > cfg.max_data_age_ms, wide=spread_bps > cfg.max_spread_bps)
