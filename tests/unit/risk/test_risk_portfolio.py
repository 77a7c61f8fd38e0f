"""Risk's portfolio from executions: exact ledger, fill dedupe, working orders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ridgeline_risk.portfolio import Portfolio, RecentIds
from ridgeline_shared.messages import Execution, Fill, OrderSide, OrderStatus, OrderType

pytestmark = pytest.mark.unit

T0 = datetime(2018, 1, 11, 12, 0, tzinfo=UTC)
T1 = datetime(2018, 1, 11, 12, 5, tzinfo=UTC)
D = Decimal


def execution(
    status: OrderStatus,
    *,
    coid: str = "RL-1",
    side: OrderSide = OrderSide.BUY,
    quantity: str = "1000",
    filled: str = "0",
    fill: tuple[str, str, str, str] | None = None,  # trade id, qty, price, commission
    sequence: int = 1,
    strategy: str = "ridgeline",
    symbol: str = "TRXBTC",
) -> Execution:
    return Execution(
        event_time=T1,
        trace_id="t",
        client_order_id=coid,
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        status=status,
        quantity=D(quantity),
        filled_quantity=D(filled),
        fill=None
        if fill is None
        else Fill(trade_id=fill[0], quantity=D(fill[1]), price=D(fill[2]), commission=D(fill[3])),
        order_event_time=T0,
        sequence=sequence,
    )


def test_fills_book_exactly_once_and_mark_to_the_last_bar() -> None:
    p = Portfolio(D(100), "ridgeline", 1000)
    p.mark("TRXBTC", D("0.011"))
    p.order_sent("RL-1", "TRXBTC", D(1000), T0)
    assert p.effective_quantity("TRXBTC") == D(1000)
    partial = execution(OrderStatus.PARTIALLY_FILLED, filled="400", fill=("tr-1", "400", "0.01", "0.001"))
    assert p.apply_execution(partial)
    assert not p.apply_execution(partial)  # redelivered: same trade id, booked once
    assert p.ledger.quantity("TRXBTC") == D(400)
    assert p.working["RL-1"].remaining == D(600)
    assert p.effective_quantity("TRXBTC") == D(1000)
    # cash 100 - 400 x 0.01 - 0.001; equity marked at the last bar (0.011), not at the fill
    assert p.ledger.cash == D("95.999")
    assert p.equity == D("95.999") + D(400) * D("0.011")
    done = execution(OrderStatus.FILLED, filled="1000", fill=("tr-2", "600", "0.012", "0"), sequence=2)
    assert p.apply_execution(done)
    assert "RL-1" not in p.working
    assert p.ledger.cash == D("95.999") - D("7.2")
    assert p.equity == D("88.799") + D(1000) * D("0.011")
    assert p.exposures() == (D("11.000"), D("11.000"))


def test_sells_reduce_and_other_strategies_are_ignored() -> None:
    p = Portfolio(D(100), "ridgeline", 1000)
    p.apply_execution(execution(OrderStatus.FILLED, filled="10", quantity="10", fill=("a", "10", "2", "0")))
    sell = ("b", "4", "3", "0")
    p.apply_execution(
        execution(OrderStatus.FILLED, coid="RL-2", side=OrderSide.SELL, quantity="4", filled="4", fill=sell)
    )
    assert p.ledger.quantity("TRXBTC") == D(6)
    assert p.ledger.realized_pnl == D(4)  # (3 - 2) x 4
    assert not p.apply_execution(execution(OrderStatus.FILLED, strategy="other", fill=("c", "5", "1", "0")))
    assert p.ledger.quantity("TRXBTC") == D(6)


def test_working_orders_follow_status_changes() -> None:
    p = Portfolio(D(100), "ridgeline", 1000)
    p.order_sent("RL-1", "TRXBTC", D(-50), T0)
    p.apply_execution(execution(OrderStatus.ACCEPTED, side=OrderSide.SELL, quantity="50", sequence=2))
    assert p.working_quantity("TRXBTC") == D(-50)
    # An out-of-order older status does not overwrite a newer one.
    p.apply_execution(
        execution(OrderStatus.PARTIALLY_FILLED, side=OrderSide.SELL, quantity="50", filled="20", sequence=3)
    )
    p.apply_execution(execution(OrderStatus.ACCEPTED, side=OrderSide.SELL, quantity="50", sequence=2))
    assert p.working_quantity("TRXBTC") == D(-30)
    p.apply_execution(
        execution(OrderStatus.CANCELED, side=OrderSide.SELL, quantity="50", filled="20", sequence=4)
    )
    assert p.working == {}
    # A closed order is never resurrected by a stale status; an unknown live order is learned.
    p.apply_execution(execution(OrderStatus.ACCEPTED, side=OrderSide.SELL, quantity="50", sequence=1))
    assert p.working == {}
    p.apply_execution(execution(OrderStatus.ACCEPTED, coid="RL-9", quantity="7"))
    assert p.working_quantity("TRXBTC") == D(7)
    assert p.working_before("TRXBTC", T1) == D(7)
    assert p.working_before("TRXBTC", T0) == D(0)


def test_round_trip() -> None:
    p = Portfolio(D(100), "ridgeline", 1000)
    p.mark("TRXBTC", D("0.5"))
    p.order_sent("RL-2", "TRXBTC", D(3), T0)
    p.apply_execution(
        execution(OrderStatus.FILLED, quantity="10", filled="10", fill=("a", "10", "0.4", "0.01"))
    )
    copy = Portfolio(D(100), "ridgeline", 1000)
    copy.load(p.to_dict())
    assert copy.to_dict() == p.to_dict()
    assert copy.equity == p.equity
    assert not copy.apply_execution(execution(OrderStatus.FILLED, fill=("a", "10", "0.4", "0.01")))


def test_recent_ids_forget_the_oldest() -> None:
    ids = RecentIds(2, ["a", "b"])
    ids.add("b")
    ids.add("c")
    assert "a" not in ids and "b" in ids and "c" in ids and len(ids) == 2
