"""The order state machine of DESIGN.md: which status may follow which.

Categories: *local* (INITIALIZED: known only to us), *denied* (refused on our side, never sent),
*in flight* (SUBMITTED, PENDING_CANCEL: sent, the venue's answer not yet known), *open*
(ACCEPTED, PARTIALLY_FILLED: working at the venue) and *closed* (FILLED, CANCELED, EXPIRED,
REJECTED). DENIED is our refusal and REJECTED the venue's: they never stand in for each other.

The table is permissive where venues really are: a fill may arrive before the acknowledgement
(SUBMITTED -> FILLED), a fill may race a cancel request (PENDING_CANCEL -> PARTIALLY_FILLED), and
a cancel may be refused because the order filled (PENDING_CANCEL -> FILLED). Everything else,
above all leaving a closed status, is refused with :class:`InvalidTransitionError`.
"""

from __future__ import annotations

from enum import StrEnum

from ridgeline_shared.messages.enums import OrderStatus

S = OrderStatus


class Category(StrEnum):
    LOCAL = "local"
    DENIED = "denied"
    IN_FLIGHT = "in_flight"
    OPEN = "open"
    CLOSED = "closed"


CATEGORY: dict[OrderStatus, Category] = {
    S.INITIALIZED: Category.LOCAL,
    S.DENIED: Category.DENIED,
    S.SUBMITTED: Category.IN_FLIGHT,
    S.PENDING_CANCEL: Category.IN_FLIGHT,
    S.ACCEPTED: Category.OPEN,
    S.PARTIALLY_FILLED: Category.OPEN,
    S.FILLED: Category.CLOSED,
    S.CANCELED: Category.CLOSED,
    S.EXPIRED: Category.CLOSED,
    S.REJECTED: Category.CLOSED,
}

_WORKING_EXITS = frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset({S.DENIED, S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED} | _WORKING_EXITS),
    S.ACCEPTED: _WORKING_EXITS,
    # A further partial fill is a transition of its own (one execution per fill).
    S.PARTIALLY_FILLED: _WORKING_EXITS,
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED}),
    S.DENIED: frozenset(),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REJECTED: frozenset(),
}

TERMINAL = frozenset(status for status, nxt in TRANSITIONS.items() if not nxt)


class InvalidTransitionError(ValueError):
    """A status change the state machine forbids; the order is left unchanged."""

    def __init__(self, client_order_id: str, current: OrderStatus, new: OrderStatus) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: the order is closed"
        super().__init__(
            f"order {client_order_id}: transition {current.value} -> {new.value} refused (allowed: {allowed})"
        )
        self.client_order_id = client_order_id
        self.current = current
        self.new = new


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in TRANSITIONS[current]


def check_transition(client_order_id: str, current: OrderStatus, new: OrderStatus) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransitionError(client_order_id, current, new)


def is_terminal(status: OrderStatus) -> bool:
    return status in TERMINAL


def is_working(status: OrderStatus) -> bool:
    """Sent and not closed: the venue may still fill it (in flight or open)."""
    return CATEGORY[status] in (Category.IN_FLIGHT, Category.OPEN)
