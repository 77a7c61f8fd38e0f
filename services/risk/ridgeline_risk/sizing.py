"""MATH.md s.3 sizing steps: volatility-scaled weight, no-trade band, gross normalisation, shares.

Weights are floats (fractions of portfolio value); the step to shares is exact Decimal so the
rounding toward zero to a lot size never drifts by a float's last bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal

from ridgeline_shared.accounting import to_decimal

# Contexts used through their methods: the same digits as ``localcontext()`` with the precision
# set, without entering and leaving a context per call.
_CTX = Context(prec=60)
_RATIO = Context(prec=40)
_ONE = Decimal(1)


def fraction(numerator: Decimal, denominator: Decimal) -> float:
    """``numerator / denominator`` to 40 digits, as a float (a weight, a share of the portfolio)."""
    return float(_RATIO.divide(numerator, denominator))


def z_weight(alpha_bps: float, sigma_bps: float, max_weight: float, z_max: float) -> float:
    """``z = clip(alpha / sigma, -z_max, z_max)``; ``weight = z x max_weight / z_max``."""
    if sigma_bps <= 0.0:
        return 0.0
    z = max(-z_max, min(z_max, alpha_bps / sigma_bps))
    return z * max_weight / z_max


def within_band(w_new: float, w_current: float, band: float) -> bool:
    """The no-trade band: a change smaller than ``band`` keeps the current weight."""
    return abs(w_new - w_current) < band


def gross_scale(weights: Mapping[str, float], gross_target: float) -> float:
    """Factor that brings ``sum |w|`` down to ``gross_target`` (1.0 when already within it)."""
    gross = sum(abs(w) for w in weights.values())
    return gross_target / gross if gross > gross_target else 1.0


def round_to_lot(quantity: Decimal, lot: Decimal) -> Decimal:
    """Toward zero, to a whole number of lots."""
    lots = _CTX.divide(quantity, lot).to_integral_value(rounding=ROUND_DOWN, context=_CTX)
    return _CTX.multiply(lots, lot) if lots else Decimal(0)


def target_shares(weight: float, portfolio_value: Decimal, price: Decimal, lot: Decimal) -> Decimal:
    """``shares = floor(weight x portfolio_value / price)`` toward zero, in whole lots."""
    if price <= 0 or portfolio_value <= 0 or weight == 0.0:
        return Decimal(0)
    raw = _CTX.divide(_CTX.multiply(to_decimal(weight), portfolio_value), price)
    return round_to_lot(raw, lot)


def round_price(price: Decimal, tick: Decimal) -> Decimal:
    """Nearest tick (half-even); at least one tick, since an order price must be positive."""
    ticks = _CTX.divide(price, tick).to_integral_value(rounding=ROUND_HALF_EVEN, context=_CTX)
    return _CTX.multiply(max(ticks, _ONE), tick)
