"""Pre-trade checks and position guardrails: every denial reason, hand-computed thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ridgeline_risk.config import RiskLimits
from ridgeline_risk.pretrade import Candidate, PreTradeChecker, book_gross, reduces
from ridgeline_shared.messages import DenialReason, TradingState

pytestmark = pytest.mark.unit

T0 = datetime(2018, 1, 11, 12, 0, tzinfo=UTC)
D = Decimal


def order(
    quantity: str = "10",
    *,
    symbol: str = "ETHBTC",
    current: str = "0",
    last: str | None = "1",
    signal_price: str | None = None,
    coid: str = "RL-1",
    flatten: bool = False,
) -> Candidate:
    return Candidate(
        coid,
        symbol,
        D(quantity),
        D(current),
        None if last is None else D(last),
        None if signal_price is None else D(signal_price),
        flatten=flatten,
    )


def check(
    checker: PreTradeChecker,
    candidate: Candidate,
    *,
    state: TradingState = TradingState.ACTIVE,
    book: dict[str, Decimal] | None = None,
    value: str = "100",
    at: datetime = T0,
    **limits: Any,
) -> DenialReason | None:
    denial = checker.check(
        candidate,
        state=state,
        limits=RiskLimits(**limits),
        gross=book_gross(book or {}, {"ETHBTC": D(1), "LTCBTC": D(1), "XLMBTC": D(1)}),
        portfolio_value=D(value),
        event_time=at,
    )
    return None if denial is None else denial.reason


def test_a_plain_order_passes() -> None:
    assert check(PreTradeChecker(100), order("10")) is None


@pytest.mark.parametrize(
    ("candidate", "state", "limits", "reason"),
    [
        (order("10"), TradingState.HALTED, {}, DenialReason.TRADING_HALTED),
        (order("10"), TradingState.REDUCING, {}, DenialReason.REDUCING_ONLY),
        (order("10", current="-5"), TradingState.REDUCING, {}, DenialReason.REDUCING_ONLY),  # crosses 0
        (order("10"), TradingState.ACTIVE, {"allowed_symbols": ("LTCBTC",)}, DenialReason.SYMBOL_NOT_ALLOWED),
        (order("10", last=None), TradingState.ACTIVE, {}, DenialReason.NO_PRICE),
        # |1.06 - 1| / 1 = 6 % > 5 %
        (order("10", signal_price="1.06"), TradingState.ACTIVE, {}, DenialReason.PRICE_COLLAR),
        (order("10"), TradingState.ACTIVE, {"max_order_quantity": D("9.5")}, DenialReason.MAX_QUANTITY),
        # notional 10 x 1 = 10 > 9.99
        (order("-10"), TradingState.ACTIVE, {"max_order_notional": D("9.99")}, DenialReason.MAX_NOTIONAL),
        # 10 + 15 = 25 of 100 = 25 % > 20 %
        (order("15", current="10"), TradingState.ACTIVE, {}, DenialReason.CONCENTRATION),
    ],
)
def test_each_denial_reason(
    candidate: Candidate, state: TradingState, limits: dict[str, Any], reason: DenialReason
) -> None:
    assert check(PreTradeChecker(100), candidate, state=state, **limits) is reason


def test_limits_are_inclusive() -> None:
    checker = PreTradeChecker(100)
    assert check(checker, order("10", coid="a", signal_price="1.05"), max_order_quantity=D(10)) is None
    assert check(checker, order("20", coid="b"), max_order_notional=D(20)) is None  # 20 % exactly
    assert check(checker, order("-10", coid="c"), state=TradingState.REDUCING) is DenialReason.REDUCING_ONLY


def test_reducing_state_admits_reducing_orders() -> None:
    checker = PreTradeChecker(100)
    assert check(checker, order("-4", current="10", coid="a"), state=TradingState.REDUCING) is None
    assert check(checker, order("4", current="-10", coid="b"), state=TradingState.REDUCING) is None
    assert reduces(D(10), D(-10)) and not reduces(D(10), D(-11)) and not reduces(D(0), D(-1))


def test_orders_that_reduce_exposure_pass_the_position_limits() -> None:
    # 30 % of the portfolio, over the 20 % limit; selling 5 still leaves 25 % but reduces.
    assert check(PreTradeChecker(100), order("-5", current="30")) is None


def test_gross_exposure() -> None:
    book = {"LTCBTC": D(30), "XLMBTC": D(-15)}
    checker = PreTradeChecker(100)
    # 30 + 15 + 10 = 55 % > 50 %
    assert check(checker, order("10", coid="a"), book=book) is DenialReason.GROSS_EXPOSURE
    assert check(checker, order("5", coid="b"), book=book) is None  # exactly 50 %
    # The order's own symbol is counted after the order, not twice.
    assert check(checker, order("4", current="1", coid="c"), book={**book, "ETHBTC": D(1)}) is None


def test_non_positive_portfolio_value_denies_new_exposure() -> None:
    assert check(PreTradeChecker(100), order("1"), value="0") is DenialReason.CONCENTRATION


def test_duplicate_client_order_id_even_after_a_denial() -> None:
    checker = PreTradeChecker(100)
    assert check(checker, order("10", coid="RL-x"), state=TradingState.HALTED) is DenialReason.TRADING_HALTED
    assert check(checker, order("10", coid="RL-x")) is DenialReason.DUPLICATE_CLIENT_ORDER_ID
    assert check(checker, order("-10", current="10", coid="RL-x", flatten=True)) is (
        DenialReason.DUPLICATE_CLIENT_ORDER_ID
    )


def test_duplicates_are_remembered_within_the_window_only() -> None:
    checker = PreTradeChecker(100)
    for i in range(101):
        assert check(checker, order("1", coid=f"id-{i}"), max_orders_per_second=1000) is None
    assert check(checker, order("1", coid="id-100")) is DenialReason.DUPLICATE_CLIENT_ORDER_ID
    assert check(checker, order("1", coid="id-0")) is None  # forgotten: 101 > window of 100


def test_order_rate_is_measured_in_event_time() -> None:
    checker = PreTradeChecker(100)
    for i in range(2):
        assert check(checker, order("1", coid=f"a{i}"), max_orders_per_second=2) is None
        checker.sent(T0)
    assert check(checker, order("1", coid="a2"), max_orders_per_second=2) is DenialReason.ORDER_RATE
    half = T0 + timedelta(milliseconds=500)
    assert check(checker, order("1", coid="a3"), max_orders_per_second=2, at=half) is DenialReason.ORDER_RATE
    # The window is (T - 1 s, T]: one second later the two orders of T0 have left it.
    assert (
        check(checker, order("1", coid="a4"), max_orders_per_second=2, at=T0 + timedelta(seconds=1)) is None
    )
    # A wider window: 2 per second over 5 s allows 10.
    checker = PreTradeChecker(100)
    for i in range(10):
        checker.sent(T0 + timedelta(seconds=i * 0.4))
    at = T0 + timedelta(seconds=3.9)
    assert check(checker, order("1", coid="w"), max_orders_per_second=2, rate_window_seconds=5.0, at=at) is (
        DenialReason.ORDER_RATE
    )


def test_flatten_orders_bypass_limits_but_not_price_or_duplicates() -> None:
    checker = PreTradeChecker(100)
    big = order("-500", current="500", coid="f1", flatten=True)
    assert (
        check(checker, big, state=TradingState.HALTED, max_order_quantity=D(1), max_order_notional=D(1))
        is None
    )
    no_price = order("-5", current="5", last=None, coid="f2", flatten=True)
    assert check(checker, no_price, state=TradingState.HALTED) is DenialReason.NO_PRICE


def test_round_trip_keeps_ids_and_rate_window() -> None:
    checker = PreTradeChecker(100)
    assert check(checker, order("1", coid="k")) is None
    checker.sent(T0)
    copy = PreTradeChecker(100)
    copy.load(checker.to_dict())
    assert check(copy, order("1", coid="k")) is DenialReason.DUPLICATE_CLIENT_ORDER_ID
    assert check(copy, order("1", coid="k2"), max_orders_per_second=1) is DenialReason.ORDER_RATE
