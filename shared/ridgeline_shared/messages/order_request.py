"""An order request from risk to the executor."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ridgeline_shared.messages.base import Message, Symbol
from ridgeline_shared.messages.enums import OrderSide, OrderType, TimeInForce

Quantity = Annotated[Decimal, Field(gt=0, max_digits=28, decimal_places=12, allow_inf_nan=False)]
SignedQuantity = Annotated[Decimal, Field(max_digits=28, decimal_places=12, allow_inf_nan=False)]
PriceD = Annotated[Decimal, Field(gt=0, max_digits=28, decimal_places=12, allow_inf_nan=False)]
ClientOrderId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,48}$")]


class OrderRequest(Message):
    """``client_order_id`` is a deterministic function of (strategy, symbol, event time, intent
    sequence), so a redelivered or replayed request can never become a second order."""

    type: Literal["order_request"] = "order_request"
    client_order_id: ClientOrderId
    strategy_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    symbol: Symbol
    side: OrderSide
    quantity: Quantity
    order_type: OrderType = OrderType.MARKET
    limit_price: PriceD | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    target_position: SignedQuantity
    reference_price: PriceD
    intent_seq: Annotated[int, Field(ge=0)] = 0
    horizon: Annotated[str, Field(max_length=8)] | None = None
    reason: Annotated[str, Field(max_length=128)]

    @model_validator(mode="after")
    def _limit_has_price(self) -> OrderRequest:
        if (self.order_type is OrderType.LIMIT) != (self.limit_price is not None):
            raise ValueError("limit_price is required for LIMIT orders and only for them")
        return self
