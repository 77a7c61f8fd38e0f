"""Across horizons (MATH.md s.2): cost-aware arbitration, or decay-weighted stacking.

Per horizon ``h`` (minutes): ``alpha_h = (sum_m w_m s~_m) x sigma_h``; ``net_h = alpha_h -
sign(alpha_h) x cost_h``; ``score_h = net_h / sqrt(h / 5)``; trade the best horizon ``h*`` only if
``|score_h*| >= cost_h* + reserve_h*``.

**Decision (net of cost for shorts):** MATH.md writes ``net_h = alpha_h - cost_h``, which would make
a short look *better* after costs. Costs are paid whichever the direction, so they shrink the
magnitude: ``net_h = sign(alpha_h) (|alpha_h| - cost_h)``. When ``|alpha_h| < cost_h`` the net
changes sign; that is a negative edge, not a signal the other way, so horizons are ranked by their
*edge score* ``sign(alpha_h) x score_h = (|alpha_h| - cost_h) / sqrt(h / 5)``, the direction is
``sign(alpha_h*)`` and the threshold is applied to the edge score. Among horizons with a positive
edge (the only tradable ones) this is exactly "the largest score, by absolute value for shorts".
Ties go to the shorter horizon (the configured order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ridgeline_blender.config import StackingConfig
from ridgeline_shared.messages import Decision


def sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def horizon_alpha(blended_score: float, sigma_h_bps: float) -> float:
    """**Decision** (MATH.md): the unitless blended score times the horizon's volatility in bps."""
    return blended_score * sigma_h_bps


def net_alpha(alpha_bps: float, cost_bps: float) -> float:
    return alpha_bps - sign(alpha_bps) * cost_bps


def horizon_score(net_bps: float, minutes: float, reference_minutes: float = 5.0) -> float:
    """The horizon penalty: a longer horizon must earn more to rank level with a short one."""
    return net_bps / math.sqrt(minutes / reference_minutes)


def edge_score(alpha_bps: float, cost_bps: float, penalty: float) -> float:
    return (abs(alpha_bps) - cost_bps) / penalty


def reserve_bps(spread_bps: float, multiple: float) -> float:
    return multiple * spread_bps


class HorizonFigures(NamedTuple):
    """One horizon's inputs to the cross-horizon decision (bps, except ``minutes``).

    A named tuple: immutable and cheap to build (six per symbol and tick)."""

    horizon: str
    minutes: float
    alpha_bps: float
    cost_bps: float
    reserve_bps: float
    sigma_bps: float
    confidence: float
    # False when every family is warming up or the volatility is not known yet: HOLD for h.
    eligible: bool

    def net(self) -> float:
        return net_alpha(self.alpha_bps, self.cost_bps)

    def score(self, reference_minutes: float) -> float:
        return horizon_score(self.net(), self.minutes, reference_minutes)

    def edge_score(self, reference_minutes: float) -> float:
        """``sign(alpha) x score = (|alpha| - cost) / sqrt(h / 5)``."""
        return edge_score(self.alpha_bps, self.cost_bps, math.sqrt(self.minutes / reference_minutes))


@dataclass(frozen=True, slots=True)
class Choice:
    decision: Decision
    horizon: str | None
    alpha_bps: float
    net_bps: float
    score: float
    threshold_bps: float
    sigma_bps: float
    confidence: float


HOLD_NOTHING = Choice(Decision.HOLD, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _decide(alpha: float, edge: float, threshold: float) -> Decision:
    if alpha == 0.0 or edge < threshold:
        return Decision.HOLD
    return Decision.BUY if alpha > 0 else Decision.SELL


def arbitrate(
    figures: Sequence[HorizonFigures], reference_minutes: float = 5.0, pick: str = "best"
) -> Choice:
    """Best horizon by edge score; trade it if its edge score clears cost + reserve.

    ``pick="best"`` is MATH.md as written: rank, then test the winner only. Because the threshold
    is in bps while the score is divided by ``sqrt(h / 5)``, the winner is often a long horizon
    whose full cost it cannot clear (equal blended scores rank the longest horizon first, its
    spread being amortised) and the bar is HOLD although a shorter horizon clears its own
    threshold. ``pick="best_tradable"`` ranks only the horizons that clear their threshold.

    On HOLD the chosen horizon and its figures are still reported (the audit shows which horizon
    came closest and by how much); ``horizon`` is None only when no horizon is eligible.
    """
    # Each eligible horizon's edge score (HorizonFigures.edge_score), computed once, with its
    # penalty: (edge, penalty, figures), in configured order.
    ranked = []
    for f in figures:
        if f.eligible:
            penalty = math.sqrt(f.minutes / reference_minutes)
            ranked.append((edge_score(f.alpha_bps, f.cost_bps, penalty), penalty, f))
    if not ranked:
        return HOLD_NOTHING
    if pick == "best_tradable":
        tradable = [r for r in ranked if r[2].alpha_bps and r[0] >= r[2].cost_bps + r[2].reserve_bps]
        ranked = tradable or ranked
    # max keeps the first of equal keys: ties go to the shorter horizon.
    edge, penalty, best = max(ranked, key=_edge_of)
    threshold = best.cost_bps + best.reserve_bps
    net = net_alpha(best.alpha_bps, best.cost_bps)
    return Choice(
        _decide(best.alpha_bps, edge, threshold),
        best.horizon,
        best.alpha_bps,
        net,
        net / penalty,  # horizon_score
        threshold,
        best.sigma_bps,
        best.confidence,
    )


def _edge_of(ranked: tuple[float, float, HorizonFigures]) -> float:
    return ranked[0]


def decay_exponential(d: float, half_life: float) -> float:
    return math.exp(-math.log(2.0) * d / half_life)


def decay_linear(d: float, d_max: float) -> float:
    return max(0.0, 1.0 - d / d_max)


def decay_inverse(d: float, eps: float) -> float:
    return 1.0 / (d + eps)


def decay_function(config: StackingConfig) -> Callable[[float], float]:
    if config.decay == "exponential":
        return lambda d: decay_exponential(d, config.half_life_minutes)
    if config.decay == "linear":
        return lambda d: decay_linear(d, config.d_max_minutes)
    return lambda d: decay_inverse(d, config.eps_minutes)


def stack(
    figures: Sequence[HorizonFigures], decay: Callable[[float], float], reference_minutes: float = 5.0
) -> Choice:
    """Decay-weighted stacking, the alternative to arbitration.

    With ``v_h = decay(h minutes)`` over the eligible horizons, alpha, cost, reserve, volatility,
    confidence and the horizon penalty ``sqrt(h / 5)`` are ``v``-weighted means; then the same net,
    score and threshold rules as arbitration apply, so stacking with all weight on one horizon is
    arbitration restricted to it. The reported horizon (for risk and for the bandit's attribution)
    is the one contributing most, ``argmax |v_h alpha_h|``.
    """
    eligible = [f for f in figures if f.eligible]
    weights = [decay(f.minutes) for f in eligible]
    total = sum(weights)
    if not eligible or total <= 0.0:
        return HOLD_NOTHING

    def mean(values: Sequence[float]) -> float:
        return sum(v * x for v, x in zip(weights, values, strict=True)) / total

    alpha = mean([f.alpha_bps for f in eligible])
    cost = mean([f.cost_bps for f in eligible])
    reserve = mean([f.reserve_bps for f in eligible])
    penalty = mean([math.sqrt(f.minutes / reference_minutes) for f in eligible])
    net = net_alpha(alpha, cost)
    score = net / penalty
    edge = edge_score(alpha, cost, penalty)
    lead = max(range(len(eligible)), key=lambda i: abs(weights[i] * eligible[i].alpha_bps))
    return Choice(
        _decide(alpha, edge, cost + reserve),
        eligible[lead].horizon,
        alpha,
        net,
        score,
        cost + reserve,
        mean([f.sigma_bps for f in eligible]),
        mean([f.confidence for f in eligible]),
    )
