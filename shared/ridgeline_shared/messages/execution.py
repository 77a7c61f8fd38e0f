"""An order status change at the executor, with the fill when there is one."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from ridgeline_shared.messages.base import Frozen, Message, Symbol, UtcDatetime
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType
from ridgeline_shared.messages.order_request import ClientOrderId, PriceD, Quantity

NonNegQty = Annotated[Decimal, Field(ge=0, max_digits=28, decimal_places=12, allow_inf_nan=False)]
Money = Annotated[Decimal, Field(max_digits=38, decimal_places=18, allow_inf_nan=False)]


class Fill(Frozen):
    """One trade; ``trade_id`` is unique per venue so fills are deduplicated by it."""

    trade_id: Annotated[str, Field(min_length=1, max_length=96)]
    quantity: Quantity
    price: PriceD
    commission: Money = Decimal(0)


class Execution(Message):
    type: Literal["execution"] = "execution"
    client_order_id: ClientOrderId
    venue_order_id: Annotated[str, Field(max_length=96)] | None = None
    strategy_id: str
    symbol: Symbol
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    quantity: Quantity
    filled_quantity: NonNegQty
    avg_fill_price: PriceD | None = None
    fill: Fill | None = None
    horizon: str | None = None
    # Event time of the order request behind this order: links fills back to the signal.
    order_event_time: UtcDatetime | None = None
    # Per-order sequence of status changes, so a consumer can order and deduplicate them.
    sequence: Annotated[int, Field(ge=0)]
    reason: Annotated[str, Field(max_length=512)] = ""
