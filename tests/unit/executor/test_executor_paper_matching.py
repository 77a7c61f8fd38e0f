"""The paper venue's matching (MATH.md s.4) on real ETHBTC 5m bars (freqtrade test data,
2018-01-10, the first rows of data/market/ETHBTC_5m.csv): never on the bar that caused the order,
next open plus half the spread and the impact, limit orders only when traded through."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ridgeline_executor.brokers.base import OrderSpec
from ridgeline_executor.brokers.paper.matching import (
    BarView,
    CostInputs,
    MatchParams,
    PaperOrder,
    apply_match,
    market_price,
    match,
)
from ridgeline_shared.ids import trade_id
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

pytestmark = pytest.mark.unit
D = Decimal

# ts (open), open, high, low, close, volume
ROWS = [
    ("2018-01-10T04:55:00", "0.0984", "0.0994766", "0.09828605", "0.0994766", "1820.54447418"),
    ("2018-01-10T05:00:00", "0.09946999000000001", "0.0997238", "0.099", "0.09969000000000001",
     "2527.92100293"),
    ("2018-01-10T05:05:00", "0.09969000000000001", "0.10072981", "0.09900001", "0.09999000000000001",
     "3653.02612961"),
    ("2018-01-10T05:10:00", "0.09999000000000001", "0.10030001000000001", "0.0988", "0.09900001",
     "1627.59350529"),
]  # fmt: skip
BARS = [
    BarView(
        symbol="ETHBTC", open_time=datetime.fromisoformat(ts).replace(tzinfo=UTC),
        event_time=datetime.fromisoformat(ts).replace(tzinfo=UTC) + timedelta(minutes=5),
        open=D(o), high=D(h), low=D(lo), volume=D(v),
    )
    for ts, o, h, lo, _c, v in ROWS
]  # fmt: skip
NO_HISTORY = CostInputs(spread_bps=5.0, sigma_daily_bps=None, adv=None)
PARAMS = MatchParams(
    tick=D("1e-8"), commission_bps=D(1), commission_quantum=D("1e-12"), quantity_step=D("1e-8")
)


def order(
    side: OrderSide = OrderSide.BUY,
    qty: str = "10",
    caused_by: BarView = BARS[0],
    kind: OrderType = OrderType.MARKET,
    limit: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
) -> PaperOrder:
    spec = OrderSpec(
        client_order_id="RL-abc", symbol="ETHBTC", side=side, order_type=kind, quantity=D(qty),
        time_in_force=tif, event_time=caused_by.event_time, limit_price=None if limit is None else D(limit),
    )  # fmt: skip
    return PaperOrder.from_spec("paper", spec)


def test_never_fills_on_the_bar_that_caused_the_order_or_before() -> None:
    made_at_bar_1 = order(caused_by=BARS[1])
    assert match(made_at_bar_1, BARS[1], NO_HISTORY, PARAMS, "paper").fill is None
    assert match(made_at_bar_1, BARS[0], NO_HISTORY, PARAMS, "paper").fill is None
    assert match(made_at_bar_1, BARS[2], NO_HISTORY, PARAMS, "paper").fill is not None


def test_market_order_fills_at_next_open_plus_half_spread_on_the_tick_grid() -> None:
    buy = match(order(OrderSide.BUY), BARS[1], NO_HISTORY, PARAMS, "paper").fill
    sell = match(order(OrderSide.SELL), BARS[1], NO_HISTORY, PARAMS, "paper").fill
    assert buy is not None and sell is not None
    # 0.09946999 x (1 + 2.5 bps) = 0.0994948574975 -> up to the tick; sells x (1 - 2.5 bps), down.
    assert buy.price == D("0.09949486")
    assert sell.price == D("0.09944512")
    assert buy.quantity == 10 and buy.bar_time == BARS[1].event_time
    assert buy.commission == D("0.000099494860")  # 1 bp of 10 x 0.09949486
    assert buy.trade_id == trade_id("paper", "RL-abc", 0)


def test_impact_is_the_square_root_law_on_daily_volatility() -> None:
    costs = CostInputs(spread_bps=5.0, sigma_daily_bps=200.0, adv=1_000_000.0)
    fill = match(order(qty="10000"), BARS[1], costs, PARAMS, "paper").fill
    assert fill is not None
    # 2.5 bps half spread + 200 x sqrt(10000 / 1e6) = 20 bps: 0.09946999 x 1.00225 = 0.0996937974775...
    assert fill.price == D("0.09969380")
    assert market_price(D("100"), OrderSide.SELL, D("22.5"), D("0.01")) == D("99.77")


def test_limit_orders_fill_only_when_a_bar_trades_through() -> None:
    buy = order(OrderSide.BUY, kind=OrderType.LIMIT, limit="0.0990", caused_by=BARS[1])
    assert (
        match(buy, BARS[2], NO_HISTORY, PARAMS, "paper").fill is None
    )  # low 0.09900001 does not pass 0.0990
    through = match(buy, BARS[3], NO_HISTORY, PARAMS, "paper").fill  # low 0.0988
    assert through is not None and through.price == D("0.0990")
    sell = order(OrderSide.SELL, kind=OrderType.LIMIT, limit="0.1005", caused_by=BARS[1])
    high = match(sell, BARS[2], NO_HISTORY, PARAMS, "paper").fill  # high 0.10072981
    assert high is not None and high.price == D("0.1005")
    gap = order(OrderSide.BUY, kind=OrderType.LIMIT, limit="0.1100", caused_by=BARS[1])
    opened = match(gap, BARS[2], NO_HISTORY, PARAMS, "paper").fill
    assert opened is not None and opened.price == D("0.09971493")  # marketable at the open: the better price


def test_volume_participation_makes_partial_fills_and_the_rest_fills_later() -> None:
    params = replace(PARAMS, max_participation=D("0.001"))
    working = order(qty="5")
    first = match(working, BARS[1], NO_HISTORY, params, "paper")
    assert first.fill is not None and first.fill.quantity == D("2.52792100")
    apply_match(working, first)
    assert working.status is OrderStatus.PARTIALLY_FILLED
    second = match(working, BARS[2], NO_HISTORY, params, "paper")
    assert second.fill is not None and second.fill.quantity == D("2.47207900")
    assert second.fill.trade_id == trade_id("paper", "RL-abc", 1)
    apply_match(working, second)
    assert working.status.value == "FILLED" and working.filled_quantity == 5


def test_ioc_cancels_the_remainder_and_day_orders_expire() -> None:
    ioc = order(qty="5", tif=TimeInForce.IOC)
    result = match(ioc, BARS[1], NO_HISTORY, replace(PARAMS, max_participation=D("0.001")), "paper")
    apply_match(ioc, result)
    assert ioc.status is OrderStatus.CANCELED and ioc.filled_quantity == D("2.52792100")
    late = order(
        tif=TimeInForce.DAY, caused_by=replace(BARS[0], event_time=datetime(2018, 1, 10, 23, 55, tzinfo=UTC))
    )
    next_day = replace(
        BARS[1],
        open_time=datetime(2018, 1, 11, tzinfo=UTC),
        event_time=datetime(2018, 1, 11, 0, 5, tzinfo=UTC),
    )
    expired = match(late, next_day, NO_HISTORY, PARAMS, "paper")
    assert expired.fill is None and expired.status is OrderStatus.EXPIRED


def test_closed_orders_never_fill() -> None:
    done = order()
    done.status = OrderStatus.CANCELED
    assert match(done, BARS[2], NO_HISTORY, PARAMS, "paper") == match(
        done, BARS[3], NO_HISTORY, PARAMS, "paper"
    )
    assert match(done, BARS[2], NO_HISTORY, PARAMS, "paper").fill is None
