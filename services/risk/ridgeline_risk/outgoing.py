"""OrderRequest and RiskEvent messages built from values the engine has already typed, without
re-validating them.

Validating an OrderRequest costs about 5 us (patterns, Decimal bounds, the UTC validator, the
model validator) and ``model_construct`` more still in this pydantic (it walks every field's
aliases and defaults in Python), against about 1 us for what is built here: the object made the
way ``model_construct`` makes it, ``__dict__`` in schema order and the given fields as the set
ones. Every value is already of its field's exact type and within its bounds: ids from
:mod:`ridgeline_shared.ids`, symbols and horizons from validated signals, enums, Decimal quantities
in whole lots and prices in whole ticks (configured with at most 12 places), text truncated to the
schema's lengths. Consumers validate on decode anyway, and the unit tests check that these objects
equal, and serialise exactly as, the validated ones.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ridgeline_shared.messages import (
    DenialReason,
    OrderRequest,
    OrderSide,
    RiskEvent,
    RiskEventKind,
    TradingState,
)
from ridgeline_shared.messages.trusted import construct, utc


def _default(cls: type[BaseModel], name: str) -> Any:
    return cls.model_fields[name].default


SCHEMA_VERSION: int = _default(OrderRequest, "schema_version")
ORDER_TYPE = _default(OrderRequest, "order_type")
TIME_IN_FORCE = _default(OrderRequest, "time_in_force")
# What validating the keyword arguments would mark as set (defaults are not "set").
ORDER_SET = frozenset(
    {"event_time", "trace_id", "trace", "client_order_id", "strategy_id", "symbol", "side", "quantity"}
    | {"target_position", "reference_price", "intent_seq", "horizon", "reason"}
)
EVENT_SET = frozenset(
    {"event_time", "trace_id", "kind", "trading_state", "reason_code", "client_order_id", "symbol"}
    | {"actor", "detail", "data"}
)
ACTOR_MAX = RiskEvent.model_fields["actor"].metadata[0].max_length
DETAIL_MAX = RiskEvent.model_fields["detail"].metadata[0].max_length


def order_request(
    *,
    event_time: datetime,
    trace_id: str,
    trace: dict[str, int],
    client_order_id: str,
    strategy_id: str,
    symbol: str,
    side: OrderSide,
    quantity: Decimal,
    target_position: Decimal,
    reference_price: Decimal,
    intent_seq: int,
    horizon: str | None,
    reason: str,
) -> OrderRequest:
    """A MARKET, GTC order request; ``trace`` is the message's own (not shared)."""
    return construct(
        OrderRequest,
        {
            "schema_version": SCHEMA_VERSION,
            "event_time": utc(event_time),
            "trace_id": trace_id,
            "trace": trace,
            "type": "order_request",
            "client_order_id": client_order_id,
            "strategy_id": strategy_id,
            "symbol": symbol,
            "side": side,
            "quantity": quantity,
            "order_type": ORDER_TYPE,
            "limit_price": None,
            "time_in_force": TIME_IN_FORCE,
            "target_position": target_position,
            "reference_price": reference_price,
            "intent_seq": intent_seq,
            "horizon": horizon,
            "reason": reason,
        },
        ORDER_SET,
    )


def risk_event(
    *,
    event_time: datetime,
    trace_id: str,
    kind: RiskEventKind,
    trading_state: TradingState,
    reason_code: DenialReason | None,
    client_order_id: str | None,
    symbol: str | None,
    actor: str,
    detail: str,
    data: dict[str, Any],
) -> RiskEvent:
    """``actor`` and ``detail`` are cut to the schema's lengths; ``data`` is the message's own."""
    return construct(
        RiskEvent,
        {
            "schema_version": SCHEMA_VERSION,
            "event_time": utc(event_time),
            "trace_id": trace_id,
            "trace": {},
            "type": "risk_event",
            "kind": kind,
            "trading_state": trading_state,
            "reason_code": reason_code,
            "client_order_id": client_order_id,
            "symbol": symbol,
            "actor": actor[:ACTOR_MAX],
            "detail": detail[:DETAIL_MAX],
            "data": data,
        },
        EVENT_SET,
    )
