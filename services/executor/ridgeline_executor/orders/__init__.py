"""The pure core of order handling: the state machine, the order record, reconciliation planning."""

from ridgeline_executor.orders.order import DuplicateFillError, FillRecord, Order, OrderEvent, OverfillError
from ridgeline_executor.orders.state import (
    CATEGORY,
    TERMINAL,
    TRANSITIONS,
    Category,
    InvalidTransitionError,
    can_transition,
    check_transition,
    is_terminal,
    is_working,
)

__all__ = [
    "CATEGORY",
    "TERMINAL",
    "TRANSITIONS",
    "Category",
    "DuplicateFillError",
    "FillRecord",
    "InvalidTransitionError",
    "Order",
    "OrderEvent",
    "OverfillError",
    "can_transition",
    "check_transition",
    "is_terminal",
    "is_working",
]
