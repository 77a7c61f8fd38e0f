"""The order state machine: every allowed transition, every refused one, and the order record
refusing illegal changes without touching its state."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ridgeline_executor.orders import (
    TERMINAL,
    TRANSITIONS,
    Category,
    DuplicateFillError,
    FillRecord,
    InvalidTransitionError,
    Order,
    OverfillError,
    can_transition,
)
from ridgeline_executor.orders.state import CATEGORY
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

pytestmark = pytest.mark.unit
S = OrderStatus
T0 = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)

ALLOWED = {
    (S.INITIALIZED, S.DENIED), (S.INITIALIZED, S.SUBMITTED),
    (S.SUBMITTED, S.ACCEPTED), (S.SUBMITTED, S.REJECTED), (S.SUBMITTED, S.PARTIALLY_FILLED),
    (S.SUBMITTED, S.FILLED), (S.SUBMITTED, S.PENDING_CANCEL), (S.SUBMITTED, S.CANCELED),
    (S.SUBMITTED, S.EXPIRED),
    (S.ACCEPTED, S.PARTIALLY_FILLED), (S.ACCEPTED, S.FILLED), (S.ACCEPTED, S.PENDING_CANCEL),
    (S.ACCEPTED, S.CANCELED), (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL), (S.PARTIALLY_FILLED, S.CANCELED), (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PENDING_CANCEL, S.CANCELED), (S.PENDING_CANCEL, S.PARTIALLY_FILLED), (S.PENDING_CANCEL, S.FILLED),
    (S.PENDING_CANCEL, S.EXPIRED),
}  # fmt: skip


def make_order(quantity: str = "10") -> Order:
    return Order(
        client_order_id="RL-test", strategy_id="ridgeline", symbol="ETHBTC", side=OrderSide.BUY,
        order_type=OrderType.MARKET, quantity=Decimal(quantity), time_in_force=TimeInForce.GTC,
        event_time=T0, trace_id="t",
    )  # fmt: skip


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("new", list(S))
def test_transition_table_is_exactly_the_designed_one(current: OrderStatus, new: OrderStatus) -> None:
    assert can_transition(current, new) == ((current, new) in ALLOWED)


def test_closed_and_denied_statuses_are_final() -> None:
    assert {S.DENIED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED} == TERMINAL
    assert all(not TRANSITIONS[s] for s in TERMINAL)


def test_denied_is_ours_and_rejected_is_the_venues() -> None:
    assert CATEGORY[S.DENIED] is Category.DENIED
    assert CATEGORY[S.REJECTED] is Category.CLOSED
    assert not can_transition(S.SUBMITTED, S.DENIED)  # once sent, only the venue can refuse it
    assert not can_transition(S.INITIALIZED, S.REJECTED)  # never sent, so the venue cannot have refused it
    assert CATEGORY[S.SUBMITTED] is CATEGORY[S.PENDING_CANCEL] is Category.IN_FLIGHT
    assert CATEGORY[S.ACCEPTED] is CATEGORY[S.PARTIALLY_FILLED] is Category.OPEN


def test_refused_transition_raises_and_changes_nothing() -> None:
    order = make_order()
    order.transition(S.SUBMITTED, not_before=T0)
    with pytest.raises(InvalidTransitionError, match="SUBMITTED -> DENIED refused"):
        order.transition(S.DENIED)
    assert order.status is S.SUBMITTED
    assert [e.status for e in order.events] == [S.SUBMITTED]
    order.transition(S.ACCEPTED, venue_order_id="V1")
    order.transition(S.CANCELED, "operator")
    with pytest.raises(InvalidTransitionError, match="none: the order is closed"):
        order.transition(S.ACCEPTED)
    with pytest.raises(InvalidTransitionError):
        order.apply_fill(FillRecord("T-1", Decimal(1), Decimal(2)))
    assert order.filled_quantity == 0 and order.status.value == "CANCELED"
    assert [e.sequence for e in order.events] == [0, 1, 2]


def test_fills_move_the_order_through_partial_to_filled() -> None:
    order = make_order("10")
    order.transition(S.SUBMITTED)
    order.transition(S.ACCEPTED, venue_order_id="V1")
    first = order.apply_fill(FillRecord("T-1", Decimal(4), Decimal("0.1")))
    second = order.apply_fill(FillRecord("T-2", Decimal(3), Decimal("0.2")))
    assert first.status is second.status is S.PARTIALLY_FILLED
    last = order.apply_fill(FillRecord("T-3", Decimal(3), Decimal("0.3")))
    assert last.status is S.FILLED and order.terminal
    assert order.filled_notional == Decimal("1.9")
    assert order.avg_fill_price == Decimal("0.19")
    assert [e.sequence for e in order.events] == [0, 1, 2, 3, 4]


def test_duplicate_trade_and_overfill_are_refused_without_booking() -> None:
    order = make_order("5")
    order.transition(S.SUBMITTED)
    order.apply_fill(FillRecord("T-1", Decimal(2), Decimal(10)))
    with pytest.raises(DuplicateFillError):
        order.apply_fill(FillRecord("T-1", Decimal(2), Decimal(10)))
    with pytest.raises(OverfillError):
        order.apply_fill(FillRecord("T-2", Decimal(4), Decimal(10)))
    assert order.filled_quantity == 2 and order.trade_ids == ["T-1"] and len(order.events) == 2


def test_fill_statuses_are_only_reached_by_booking_a_fill() -> None:
    order = make_order()
    order.transition(S.SUBMITTED)
    with pytest.raises(ValueError, match="apply_fill"):
        order.transition(S.FILLED)


def test_execution_carries_the_event_and_the_request_context() -> None:
    order = make_order("3")
    order.horizon = "15m"
    order.transition(S.SUBMITTED)
    order.transition(S.ACCEPTED, venue_order_id="V9")
    event = order.apply_fill(FillRecord("T-7", Decimal(1), Decimal("0.099494860001"), Decimal("0.001")))
    tick = datetime(2018, 1, 10, 5, 5, tzinfo=UTC)
    execution = order.execution(event, tick)
    assert execution.status is S.PARTIALLY_FILLED and execution.sequence == 2
    assert execution.fill is not None and execution.fill.trade_id == "T-7"
    assert execution.filled_quantity == 1 and execution.avg_fill_price == Decimal("0.099494860001")
    assert execution.venue_order_id == "V9" and execution.horizon == "15m"
    assert execution.order_event_time == T0 and execution.event_time == tick


def test_order_record_round_trips_through_its_dict() -> None:
    order = make_order("3")
    order.transition(S.SUBMITTED, not_before=T0)
    order.apply_fill(FillRecord("T-1", Decimal(1), Decimal("1.5"), Decimal("0.01"), True, T0))
    order.published, order.logged = 1, 2
    again = Order.from_dict(order.to_dict())
    assert again.to_dict() == order.to_dict()
    assert again.events == order.events
