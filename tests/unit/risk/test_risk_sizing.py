"""MATH.md s.3 sizing steps and the per-symbol target decision, against hand-computed cases."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ridgeline_risk.config import RiskConfig
from ridgeline_risk.sizing import (
    gross_scale,
    round_price,
    round_to_lot,
    target_shares,
    within_band,
    z_weight,
)
from ridgeline_risk.targets import Intent, SignalView, decide, settle
from ridgeline_shared.messages import Decision

pytestmark = pytest.mark.unit

CFG = RiskConfig()
G_LONG = 0.8 * math.sqrt(0.8)  # barrier gate at P_peak 0.2, P_valley 0.6


def view(
    decision: Decision = Decision.BUY,
    alpha: float = 30.0,
    sigma: float = 10.0,
    *,
    alpha_5m: float | None = None,
    p_peak: float | None = 0.2,
    p_valley: float | None = 0.6,
    spread: float = 2.0,
    age_ms: float = 0.0,
) -> SignalView:
    return SignalView(
        decision=decision,
        alpha_bps=alpha,
        sigma_bps=sigma,
        alpha_5m_bps=alpha if alpha_5m is None else alpha_5m,
        p_peak=p_peak,
        p_valley=p_valley,
        spread_bps=spread,
        data_age_ms=age_ms,
    )


def final(v: SignalView, current: float, scale: float = 1.0) -> Intent:
    """The symbol's decision followed by the portfolio step (gross scale, then band)."""
    return settle(decide(v, current, CFG), current, scale, CFG)


def test_z_weight_by_hand() -> None:
    assert z_weight(30.0, 10.0, 0.05, 3.0) == pytest.approx(0.05)  # z = 3
    assert z_weight(15.0, 10.0, 0.05, 3.0) == pytest.approx(0.025)  # z = 1.5
    assert z_weight(-60.0, 10.0, 0.05, 3.0) == pytest.approx(-0.05)  # z = -6 clipped to -3
    assert z_weight(5.0, 0.0, 0.05, 3.0) == 0.0  # no volatility, no size


def test_no_trade_band() -> None:
    assert within_band(0.0279, 0.02, 0.008)
    assert not within_band(0.0281, 0.02, 0.008)
    assert not within_band(-0.01, 0.0, 0.008)


def test_gross_scale_only_above_target() -> None:
    assert gross_scale({"A": 0.3, "B": -0.3, "C": 0.1}, 0.5) == pytest.approx(0.5 / 0.7)
    assert gross_scale({"A": 0.2, "B": -0.3}, 0.5) == 1.0
    assert gross_scale({}, 0.5) == 1.0


def test_shares_round_toward_zero_in_lots() -> None:
    assert target_shares(0.05, Decimal(100), Decimal("0.0001"), Decimal(1)) == Decimal(50000)
    # 0.05 x 100 / 0.00003 = 166666.67 -> 1666 lots of 100
    assert target_shares(0.05, Decimal(100), Decimal("0.00003"), Decimal(100)) == Decimal(166600)
    assert target_shares(-0.05, Decimal(100), Decimal("0.00003"), Decimal(100)) == Decimal(-166600)
    # 0.0123 x 1000 / 7 = 1.7571... -> 1.757 in lots of 0.001
    assert target_shares(0.0123, Decimal(1000), Decimal(7), Decimal("0.001")) == Decimal("1.757")
    assert target_shares(0.01, Decimal(100), Decimal(3), Decimal(1)) == Decimal(0)  # 0.33 -> 0
    assert target_shares(0.05, Decimal(0), Decimal(1), Decimal(1)) == Decimal(0)


@given(
    st.floats(-1.0, 1.0, allow_nan=False),
    st.decimals("0.01", "100000", places=2),
    st.decimals("0.00001", "1000", places=5),
    st.sampled_from([Decimal(1), Decimal(10), Decimal("0.01")]),
)
def test_shares_never_exceed_the_weight_and_are_whole_lots(
    weight: float, value: Decimal, price: Decimal, lot: Decimal
) -> None:
    shares = target_shares(weight, value, price, lot)
    assert abs(shares * price) <= abs(Decimal(repr(weight)) * value)
    assert shares % lot == 0
    assert shares == 0 or (shares > 0) == (weight > 0)
    assert abs(shares) + lot > abs(Decimal(repr(weight)) * value / price)  # less than a lot short


def test_round_to_lot_and_price_to_tick() -> None:
    assert round_to_lot(Decimal("-2.5"), Decimal(1)) == Decimal(-2)
    assert round_price(Decimal("0.09946999000000001"), Decimal("1e-8")) == Decimal("0.09946999")
    assert round_price(Decimal("0.000012345"), Decimal("1e-8")) == Decimal("0.00001234")  # half-even
    assert round_price(Decimal("1e-10"), Decimal("1e-8")) == Decimal("1e-8")  # at least one tick


def test_decide_buy_sizes_by_z_and_gate() -> None:
    intent = final(view(), 0.0)
    assert intent.weight == pytest.approx(0.05 * G_LONG)  # 0.0357771
    assert intent.gate == pytest.approx(G_LONG)
    assert (intent.keep, intent.reason, intent.exit) == (False, "signal", False)


def test_decide_sell_uses_the_short_gate() -> None:
    # z = -1.5 -> -0.025; short gate at P_peak 0.6, P_valley 0.2 = 0.8 sqrt(0.8)
    intent = final(view(Decision.SELL, -15.0, p_peak=0.6, p_valley=0.2), 0.0)
    assert intent.weight == pytest.approx(-0.025 * G_LONG)


def test_decide_band_keeps_the_current_weight() -> None:
    intent = final(view(), 0.03)  # |0.03578 - 0.03| = 0.0058 < 0.008
    assert (intent.weight, intent.keep, intent.reason) == (0.03, True, "band")
    intent = final(view(), 0.02)  # 0.0158 >= 0.008
    assert not intent.keep
    assert intent.weight == pytest.approx(0.05 * G_LONG)


def test_decide_peak_block_allows_no_new_long_but_covers_a_short() -> None:
    # P_peak 0.62: above the 0.6 entry block, below the 0.65 exit.
    intent = final(view(p_peak=0.62, p_valley=0.6), 0.0)
    assert (intent.weight, intent.keep) == (0.0, True)
    intent = final(view(p_peak=0.62, p_valley=0.6), 0.01)
    assert (intent.weight, intent.keep) == (0.01, True)
    intent = final(view(p_peak=0.7, p_valley=0.6), 0.01)  # above 0.65: the long is exited
    assert (intent.weight, intent.exit) == (0.0, True)
    # A short of -0.02 may be covered to 0, not turned long (alpha_5m 0: no exit rule).
    intent = final(view(p_peak=0.62, p_valley=0.6, alpha_5m=0.0), -0.02)
    assert (intent.weight, intent.keep, intent.reason) == (0.0, False, "peak_block")


def test_decide_gate_block_below_threshold() -> None:
    # g = 0.4 x sqrt(0.5) = 0.283 < 0.3: blocked although P_peak = 0.6 is not above 0.6
    intent = final(view(p_peak=0.6, p_valley=0.0), 0.0)
    assert (intent.weight, intent.keep, intent.reason) == (0.0, True, "gate_block")


def test_decide_wide_spread_is_reduce_only() -> None:
    intent = final(view(spread=12.5), 0.0)
    assert (intent.weight, intent.keep, intent.reason) == (0.0, True, "wide_spread")
    intent = final(view(alpha_5m=0.0, spread=12.5), -0.03)
    assert (intent.weight, intent.keep, intent.reason) == (0.0, False, "wide_spread")
    # A SELL may still cut a long through a wide spread, but not go short.
    intent = final(view(Decision.SELL, -30.0, p_peak=0.6, p_valley=0.2, spread=20.0), 0.04)
    assert (intent.weight, intent.reason) == (0.0, "exit")


def test_decide_stale_data_keeps_everything() -> None:
    intent = final(view(age_ms=250.0, alpha_5m=-5.0), 0.04, scale=0.5)
    assert (intent.weight, intent.keep, intent.reason) == (0.04, True, "stale")


def test_the_band_applies_to_the_normalised_weight() -> None:
    # Raw 0.2 scaled by 0.5 is 0.1: a holding of 0.095 is inside the band, 0.09 is not.
    strong = view(alpha=30.0, p_peak=None, p_valley=None)
    cfg = RiskConfig(max_weight=0.2)
    assert settle(decide(strong, 0.095, cfg), 0.095, 0.5, cfg).keep
    intent = settle(decide(strong, 0.09, cfg), 0.09, 0.5, cfg)
    assert (intent.keep, intent.reason) == (False, "signal+gross_scale")
    assert intent.weight == pytest.approx(0.1)
    # A hold is scaled down with the rest when the gross is above target.
    assert final(view(Decision.HOLD, 0.0, alpha_5m=0.0), 0.04, scale=0.5).weight == pytest.approx(0.02)


def test_decide_exit_rule_closes_even_inside_the_band() -> None:
    intent = final(view(Decision.HOLD, 0.0, alpha_5m=-1.0), 0.005)
    assert (intent.weight, intent.keep, intent.exit, intent.reason) == (0.0, False, True, "exit")
    intent = final(view(Decision.HOLD, 0.0, alpha_5m=1.0, p_peak=0.1, p_valley=0.7), -0.04)
    assert (intent.weight, intent.exit) == (0.0, True)
    intent = final(view(Decision.HOLD, 0.0, alpha_5m=1.0, p_peak=0.66, p_valley=0.1), 0.04)
    assert (intent.weight, intent.exit) == (0.0, True)


def test_decide_hold_and_inconsistent_signals_keep() -> None:
    assert final(view(Decision.HOLD, 50.0), 0.02).weight == 0.02
    intent = final(view(Decision.BUY, -10.0, alpha_5m=0.0), 0.0)
    assert (intent.weight, intent.keep, intent.reason) == (0.0, True, "hold")
    assert final(view(sigma=0.0), 0.0).weight == 0.0


def test_decide_reports_a_preferred_entry() -> None:
    base = view(p_peak=0.1, p_valley=0.6)
    rising = base._replace(previous_p_valley=0.5)
    assert final(rising, 0.0).reason == "signal_preferred"
    assert final(base, 0.0).reason == "signal"
