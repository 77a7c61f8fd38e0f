"""Alpaca's order, position and account models <-> the broker protocol's reports (pure).

Status mapping: Alpaca's working states (``new``, ``accepted``, ``pending_new``, ``held``...) are
ACCEPTED, or PARTIALLY_FILLED once something filled; ``done_for_day`` and ``expired`` are EXPIRED;
``replaced`` is CANCELED (the executor never replaces, so a replaced order is gone for us).
Alpaca's order API reports cumulative fills only (``filled_qty``, ``filled_avg_price``), so
reports carry no individual fills and reconciliation synthesises them with deterministic ids.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from ridgeline_executor.brokers.base import BrokerAccount, BrokerOrder, BrokerPosition, OrderSpec
from ridgeline_shared.accounting import ZERO, to_decimal
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

STATUS: dict[str, OrderStatus] = {
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "pending_review": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "stopped": OrderStatus.ACCEPTED,
    "suspended": OrderStatus.ACCEPTED,
    "pending_replace": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "done_for_day": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}

_TIF = {TimeInForce.DAY: AlpacaTif.DAY, TimeInForce.GTC: AlpacaTif.GTC, TimeInForce.IOC: AlpacaTif.IOC}
_SIDE = {OrderSide.BUY: AlpacaSide.BUY, OrderSide.SELL: AlpacaSide.SELL}


def _value(raw: Any) -> str:
    return str(raw.value if hasattr(raw, "value") else raw)


def _decimal(raw: str | float | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    return to_decimal(raw)


def map_status(raw: str, filled: Decimal) -> OrderStatus:
    status = STATUS.get(raw)
    if status is None:
        raise ValueError(f"unknown Alpaca order status {raw!r}")
    if status is OrderStatus.ACCEPTED and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_request(spec: OrderSpec) -> MarketOrderRequest | LimitOrderRequest:
    """The alpaca-py request; ``client_order_id`` is ours, so the venue can be asked by it."""
    common: dict[str, Any] = {
        "symbol": spec.symbol,
        "qty": float(spec.quantity),
        "side": _SIDE[spec.side],
        "time_in_force": _TIF[spec.time_in_force],
        "client_order_id": spec.client_order_id,
    }
    if spec.order_type is OrderType.LIMIT:
        assert spec.limit_price is not None
        return LimitOrderRequest(limit_price=float(spec.limit_price), **common)
    return MarketOrderRequest(**common)


def parse_order(order: Any) -> BrokerOrder:
    """An ``alpaca.trading.models.Order`` as a report."""
    filled = _decimal(order.filled_qty) or ZERO
    avg = _decimal(order.filled_avg_price)
    kind = _value(order.type or order.order_type)
    return BrokerOrder(
        client_order_id=order.client_order_id,
        venue_order_id=str(order.id),
        symbol=str(order.symbol),
        side=OrderSide(_value(order.side).upper()),
        order_type=OrderType.LIMIT if kind == "limit" else OrderType.MARKET,
        quantity=_decimal(order.qty) or ZERO,
        status=map_status(_value(order.status), filled),
        filled_quantity=filled,
        avg_fill_price=avg if filled and avg else None,
        limit_price=_decimal(order.limit_price),
    )


def parse_position(position: Any) -> BrokerPosition:
    quantity = to_decimal(position.qty)
    if _value(position.side) == "short" and quantity > 0:
        quantity = -quantity
    return BrokerPosition(
        symbol=str(position.symbol), quantity=quantity, avg_entry_price=_decimal(position.avg_entry_price)
    )


def parse_account(account: Any) -> BrokerAccount:
    return BrokerAccount(
        cash=_decimal(account.cash) or ZERO,
        equity=_decimal(account.equity),
        buying_power=_decimal(account.buying_power),
        currency=str(account.currency or ""),
    )


def rejected(spec: OrderSpec, reason: str) -> BrokerOrder:
    """The report of an order the venue refused at submission (it keeps no record of it)."""
    return BrokerOrder(
        client_order_id=spec.client_order_id,
        venue_order_id=None,
        symbol=spec.symbol,
        side=spec.side,
        order_type=spec.order_type,
        quantity=spec.quantity,
        status=OrderStatus.REJECTED,
        limit_price=spec.limit_price,
        reason=reason[:256],
    )
