"""Fills of a run, deduplicated and in execution order, with what links them to their signal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ridgeline_shared.messages import Execution, OrderRequest, OrderSide


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One fill; ``time`` is the tick its execution was published at (the bar it filled on)."""

    time: datetime
    symbol: str
    signed_qty: Decimal
    price: Decimal
    commission: Decimal
    trade_id: str
    client_order_id: str
    horizon: str | None
    # Event time of the order request: the bar (and signal) that caused the order.
    order_event_time: datetime | None

    @property
    def notional(self) -> Decimal:
        return abs(self.signed_qty) * self.price


@dataclass(frozen=True, slots=True)
class Fills:
    events: tuple[FillEvent, ...]
    # Executions whose trade id an earlier execution already carried (a redelivered report).
    duplicates: int


def extract_fills(executions: Iterable[Execution], orders: Iterable[OrderRequest] = ()) -> Fills:
    """Fills in stream order, each trade id once. A missing ``order_event_time`` or horizon is
    taken from the order request of the same client order id, when there is one."""
    requests = {o.client_order_id: o for o in orders}
    seen: set[str] = set()
    events: list[FillEvent] = []
    duplicates = 0
    for execution in executions:
        fill = execution.fill
        if fill is None:
            continue
        if fill.trade_id in seen:
            duplicates += 1
            continue
        seen.add(fill.trade_id)
        request = requests.get(execution.client_order_id)
        order_time = execution.order_event_time or (request.event_time if request else None)
        horizon = execution.horizon or (request.horizon if request else None)
        sign = Decimal(1) if execution.side is OrderSide.BUY else Decimal(-1)
        events.append(
            FillEvent(
                time=execution.event_time,
                symbol=execution.symbol,
                signed_qty=sign * fill.quantity,
                price=fill.price,
                commission=fill.commission,
                trade_id=fill.trade_id,
                client_order_id=execution.client_order_id,
                horizon=horizon,
                order_event_time=order_time,
            )
        )
    return Fills(tuple(events), duplicates)
