"""Exact money helpers shared by the venue simulator and reconciliation (pure).

Everything is ``Decimal`` in a 60-digit context, so products and quotients of prices and
quantities are exact or rounded far below any tick; the only deliberate roundings are onto a
grid (a price tick, a quantity step, a commission quantum), each in a stated direction.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, localcontext

from ridgeline_shared.accounting import ZERO

BPS = Decimal(10_000)
PREC = 60


def to_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``value`` on the grid of ``step`` (a price tick, a lot), rounded as asked."""
    with localcontext() as ctx:
        ctx.prec = PREC
        return (value / step).to_integral_value(rounding=rounding) * step


def commission(quantity: Decimal, price: Decimal, bps: Decimal, quantum: Decimal) -> Decimal:
    """``bps`` of the notional, rounded up to ``quantum`` (venues charge whole minor units)."""
    if not bps:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = PREC
        return to_grid(quantity * price * bps / BPS, quantum, ROUND_CEILING)
