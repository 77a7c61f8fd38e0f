"""Reconciliation planning (pure): what to do for each way our view and the venue's can differ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ridgeline_executor.brokers.base import BrokerFill, BrokerOrder
from ridgeline_executor.orders import FillRecord, Order
from ridgeline_executor.orders.reconcile import (
    ApplyFill,
    ApplyStatus,
    Fees,
    Forget,
    QueryOrder,
    ReportDifference,
    Resubmit,
    compare_positions,
    orders_to_query,
    plan,
    plan_order,
)
from ridgeline_shared.ids import trade_id
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

pytestmark = pytest.mark.unit
D = Decimal
S = OrderStatus
T1 = datetime(2018, 1, 10, 5, 5, tzinfo=UTC)
T2 = T1 + timedelta(minutes=5)


def local(
    cid: str = "RL-a", status: S = S.ACCEPTED, qty: str = "10", side: OrderSide = OrderSide.BUY
) -> Order:
    order = Order(
        client_order_id=cid, strategy_id="s", symbol="ETHBTC", side=side, order_type=OrderType.MARKET,
        quantity=D(qty), time_in_force=TimeInForce.GTC, event_time=T1 - timedelta(minutes=5), trace_id="t",
    )  # fmt: skip
    order.submit_tick = T1
    order.transition(S.SUBMITTED, not_before=T1)
    if status is not S.SUBMITTED:
        order.transition(S.ACCEPTED, venue_order_id="V-a", not_before=T1)
    order.published = len(order.events)
    return order


def report(
    cid: str = "RL-a",
    status: S = S.ACCEPTED,
    filled: str = "0",
    avg: str | None = None,
    fills: tuple[BrokerFill, ...] = (),
) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=cid, venue_order_id="V-a", symbol="ETHBTC", side=OrderSide.BUY,
        order_type=OrderType.MARKET, quantity=D(10), status=status, filled_quantity=D(filled),
        avg_fill_price=None if avg is None else D(avg), fills=fills,
    )  # fmt: skip


def test_missed_cumulative_fill_is_synthesised_with_a_deterministic_id() -> None:
    actions = plan_order(
        local(), report(status=S.FILLED, filled="10", avg="0.0995"), venue="alpaca", last_tick=T1
    )
    assert actions == [
        ApplyFill("RL-a", FillRecord(trade_id("alpaca", "RL-a", 0), D(10), D("0.0995"), D(0), synthetic=True))
    ]


def test_synthesised_fill_is_priced_so_the_average_matches_the_venue() -> None:
    order = local()
    order.apply_fill(FillRecord("T-x", D(4), D(10)))
    fees = Fees(bps=D(10), quantum=D("0.01"))
    (action,) = plan_order(
        order, report(status=S.FILLED, filled="10", avg="10.6"), venue="alpaca", last_tick=T1, fees=fees
    )
    # Venue: 10 at 10.6 = 106; we booked 4 at 10 = 40; the missed 6 cost 66, i.e. 11 each.
    assert isinstance(action, ApplyFill)
    assert action.fill.quantity == 6 and action.fill.price == 11
    assert action.fill.trade_id == trade_id("alpaca", "RL-a", 1)
    assert action.fill.commission == D("0.07")  # 10 bps of 66, rounded up to the cent


def test_venue_trade_ids_are_used_and_known_ones_skipped() -> None:
    order = local()
    order.apply_fill(FillRecord("P-1", D(3), D(2)))
    fills = (BrokerFill("P-1", D(3), D(2)), BrokerFill("P-2", D(7), D(3), D("0.01"), T2))
    actions = plan_order(
        order, report(status=S.FILLED, filled="10", avg="2.7", fills=fills), venue="paper", last_tick=T1
    )
    assert actions == [ApplyFill("RL-a", FillRecord("P-2", D(7), D(3), D("0.01"), False, T2))]


def test_an_unacknowledged_order_is_acknowledged_before_its_fills() -> None:
    order = local(status=S.SUBMITTED)
    actions = plan_order(order, report(status=S.FILLED, filled="10", avg="2"), venue="paper", last_tick=T1)
    assert actions[0] == ApplyStatus("RL-a", S.ACCEPTED, "", "V-a", T1)
    assert isinstance(actions[1], ApplyFill)
    assert len(actions) == 2


def test_venue_rejection_of_an_in_flight_order() -> None:
    rejected = BrokerOrder(
        "RL-a", None, "ETHBTC", OrderSide.BUY, OrderType.MARKET, D(10), S.REJECTED, reason="no"
    )
    assert plan_order(local(status=S.SUBMITTED), rejected, venue="paper", last_tick=T1) == [
        ApplyStatus("RL-a", S.REJECTED, "no", None, T1)
    ]


def test_cancel_after_partial_fill_books_the_fill_then_the_cancel() -> None:
    actions = plan_order(
        local(), report(status=S.CANCELED, filled="4", avg="2"), venue="alpaca", last_tick=T1
    )
    assert [type(a) for a in actions] == [ApplyFill, ApplyStatus]
    assert isinstance(actions[1], ApplyStatus) and actions[1].status is S.CANCELED


def test_orders_unknown_to_the_venue() -> None:
    recovered = local(status=S.SUBMITTED)
    recovered.recovered, recovered.published = True, 0
    assert plan_order(recovered, None, venue="paper", last_tick=T1) == [Forget("RL-a")]
    fresh = local(status=S.SUBMITTED)
    assert plan_order(fresh, None, venue="paper", last_tick=T1) == [Resubmit("RL-a")]
    stale = plan_order(local(status=S.SUBMITTED), None, venue="paper", last_tick=T2)
    assert isinstance(stale[0], ReportDifference)
    assert stale[1] == ApplyStatus("RL-a", S.EXPIRED, "never reached the venue; expired at reconciliation")
    lost = plan_order(local(), None, venue="paper", last_tick=T2)
    assert isinstance(lost[1], ApplyStatus) and lost[1].status is S.EXPIRED


def test_nothing_to_do_when_the_views_agree() -> None:
    order = local()
    order.apply_fill(FillRecord(trade_id("alpaca", "RL-a", 0), D(4), D(2)))
    assert (
        plan_order(
            order, report(status=S.PARTIALLY_FILLED, filled="4", avg="2"), venue="alpaca", last_tick=T1
        )
        == []
    )
    actions = plan(
        {"RL-a": order}, {"RL-a": report(status=S.PARTIALLY_FILLED, filled="4", avg="2")}, venue="alpaca",
        last_tick=T1, broker_open={"RL-a"}, local_positions={"ETHBTC": D(4)},
        broker_positions={"ETHBTC": D(4)}, local_cash=D(92), broker_cash=D(92),
    )  # fmt: skip
    assert actions == []


def test_positions_and_cash_are_compared_after_the_planned_fills() -> None:
    order = local()
    reports = {"RL-a": report(status=S.FILLED, filled="10", avg="2")}
    explained = plan(
        {"RL-a": order}, reports, venue="alpaca", last_tick=T1, broker_open=(),
        local_positions={}, broker_positions={"ETHBTC": D(10)}, local_cash=D(100), broker_cash=D(80),
    )  # fmt: skip
    assert [type(a) for a in explained] == [ApplyFill]
    unexplained = plan(
        {"RL-a": order}, reports, venue="alpaca", last_tick=T1, broker_open={"RL-zz"},
        local_positions={"XLMBTC": D(-3)}, broker_positions={"ETHBTC": D(12)}, local_cash=D(100),
        broker_cash=D(80),
    )  # fmt: skip
    differences = [a for a in unexplained if isinstance(a, ReportDifference)]
    assert [(d.kind, d.key, d.local, d.broker) for d in differences] == [
        ("foreign_order", "RL-zz", "unknown", "open"),
        ("position", "ETHBTC", "10", "12"),
        ("position", "XLMBTC", "-3", "0"),
    ]


def test_queries_cover_working_orders_missing_from_the_open_list() -> None:
    orders = [local("RL-b"), local("RL-a", status=S.SUBMITTED), local("RL-c")]
    orders[2].transition(S.CANCELED)
    assert orders_to_query(orders, {"RL-b"}) == [QueryOrder("RL-a")]
    assert compare_positions({"A": D(1)}, {"A": D("1.0")}) == []
