"""The cost of one horizon for one symbol, from its one-bar volatility (MATH.md s.2 cost model).

The formula is :class:`ridgeline_shared.market.CostModel`'s (shared with risk and the executor);
this module fixes which volatilities feed it: the timing term's sigma is the 5-minute return
volatility ``sigma_1 sqrt(5 / interval)``, the impact term's is the daily
``sigma_1 sqrt(bars per session)``, and the impact quantity is ``planned_notional / price``.
Without a volatility estimate (too few bars) the timing and impact terms are 0 and only the
spread is charged; such a horizon is not traded anyway.
"""

from __future__ import annotations

import math

from ridgeline_shared.market import CostModel, impact_bps


def sigma_5m_bps(sigma_1_bps: float, interval_minutes: float) -> float:
    return sigma_1_bps * math.sqrt(5.0 / interval_minutes)


def sigma_horizon_bps(sigma_1_bps: float, bars: int) -> float:
    return sigma_1_bps * math.sqrt(bars)


def sigma_daily_bps(sigma_1_bps: float, session_bars: int) -> float:
    return sigma_1_bps * math.sqrt(session_bars)


def horizon_cost_bps(
    model: CostModel,
    *,
    spread_bps: float,
    sigma_1_bps: float | None,
    interval_minutes: float,
    horizon_minutes: float,
    session_bars: int,
    planned_notional: float,
    price: float,
    adv_shares: float | None,
) -> float:
    sigma_1 = sigma_1_bps or 0.0
    return model.cost_bps(
        spread_bps,
        sigma_5m_bps(sigma_1, interval_minutes),
        horizon_minutes,
        sigma_daily_bps(sigma_1, session_bars),
        planned_notional / price,
        adv_shares,
    )


class HorizonCosts:
    """:func:`horizon_cost_bps` for every configured horizon of one symbol at once.

    The square roots that depend only on configuration are taken once, and the terms every
    horizon shares (spread, impact) once per symbol; each product and sum is the one
    :class:`CostModel` makes, in its order, so every figure is bit-identical to
    :func:`horizon_cost_bps` (a unit test holds it to that).
    """

    __slots__ = ("_day", "_five", "_k1", "_k2", "_k3", "_notional", "_timing")

    def __init__(
        self,
        model: CostModel,
        *,
        interval_minutes: float,
        horizon_minutes: list[float] | tuple[float, ...],
        session_bars: int,
        planned_notional: float,
    ) -> None:
        self._k1, self._k2, self._k3 = model.k1, model.k2, model.k3
        self._five = math.sqrt(5.0 / interval_minutes)
        self._day = math.sqrt(session_bars)
        self._timing = tuple(math.sqrt(m / 5.0) for m in horizon_minutes)
        self._notional = planned_notional

    def costs(
        self, spread_bps: float, sigma_1_bps: float | None, price: float, adv_shares: float | None
    ) -> tuple[float, ...]:
        sigma_1 = sigma_1_bps or 0.0
        quantity = self._notional / price
        impact = impact_bps(sigma_1 * self._day, quantity, adv_shares, self._k3)
        spread = self._k1 * spread_bps
        timing = self._k2 * (sigma_1 * self._five)
        return tuple(spread + timing * root + impact for root in self._timing)
