"""The executor's order record: exact quantities, its event history, its executions.

Every status change is an :class:`OrderEvent` with a per-order sequence number (0 = the first
change after INITIALIZED). Events are *published* as executions only inside an event-time tick
(consumers reject entries behind a watermark), so an event carries ``not_before``: the earliest
tick it may be published at (the bar a fill happened on, the tick an order was submitted at).
That keeps the executions stream of a crash-and-recover run equal to an uninterrupted run's.

Money is exact: quantities, prices and the filled notional are ``Decimal``; the average fill
price is ``filled_notional / filled_quantity`` and is rounded (to 1e-12) only when written into
an execution message, never in the books.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from ridgeline_executor.orders.state import CATEGORY, Category, check_transition, is_terminal, is_working
from ridgeline_shared.accounting import ZERO
from ridgeline_shared.messages import Execution, Fill, OrderRequest
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from ridgeline_shared.messages.trusted import trusted

# Execution messages carry at most 12 decimal places (pydantic constraints of the schema).
MESSAGE_QUANTUM = Decimal("1e-12")
_PREC = 60


def quantize_message(value: Decimal) -> Decimal:
    return value.quantize(MESSAGE_QUANTUM, rounding=ROUND_HALF_EVEN).normalize() + ZERO


MONEY_QUANTUM = Decimal("1e-18")


def fits_message(fill: FillRecord) -> FillRecord:
    """The fill as an execution message can carry it (12 decimals for quantity and price, 18 for
    the commission), rounded *before* it is booked so the books and the stream agree exactly."""
    quantity, price = fill.quantity, fill.price
    fee = fill.commission
    if quantity.as_tuple().exponent < -12 or price.as_tuple().exponent < -12 or fee.as_tuple().exponent < -18:  # type: ignore[operator]
        quantity = quantize_message(quantity)
        price = quantize_message(price)
        fee = fee.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
        return FillRecord(fill.trade_id, quantity, price, fee, fill.synthetic, fill.bar_time)
    return fill


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class DuplicateFillError(ValueError):
    """A fill whose trade id this order already booked (a redelivered venue report)."""


class OverfillError(ValueError):
    """A fill that would take the filled quantity above the order quantity."""


@dataclass(frozen=True, slots=True)
class FillRecord:
    trade_id: str
    quantity: Decimal
    price: Decimal
    commission: Decimal = ZERO
    # True when reconciliation derived it from the venue's cumulative fill (deterministic id).
    synthetic: bool = False
    bar_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "commission": str(self.commission),
            "synthetic": self.synthetic,
            "bar_time": _iso(self.bar_time),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FillRecord:
        return cls(
            trade_id=data["trade_id"],
            quantity=Decimal(data["quantity"]),
            price=Decimal(data["price"]),
            commission=Decimal(data["commission"]),
            synthetic=bool(data.get("synthetic", False)),
            bar_time=_dt(data.get("bar_time")),
        )


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One transition, with the order's cumulative figures right after it."""

    sequence: int
    status: OrderStatus
    filled_quantity: Decimal
    filled_notional: Decimal
    venue_order_id: str | None
    reason: str = ""
    fill: FillRecord | None = None
    not_before: datetime | None = None
    # The JSON of to_dict(), made once: an event never changes, and an order's record holds all
    # of its events each time the order is written.
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

    def json(self) -> str:
        text = self._json
        if text is None:
            text = json.dumps(self.to_dict())
            object.__setattr__(self, "_json", text)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "status": self.status.value,
            "filled_quantity": str(self.filled_quantity),
            "filled_notional": str(self.filled_notional),
            "venue_order_id": self.venue_order_id,
            "reason": self.reason,
            "fill": self.fill.to_dict() if self.fill else None,
            "not_before": _iso(self.not_before),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderEvent:
        return cls(
            sequence=int(data["sequence"]),
            status=OrderStatus(data["status"]),
            filled_quantity=Decimal(data["filled_quantity"]),
            filled_notional=Decimal(data["filled_notional"]),
            venue_order_id=data.get("venue_order_id"),
            reason=data.get("reason", ""),
            fill=FillRecord.from_dict(data["fill"]) if data.get("fill") else None,
            not_before=_dt(data.get("not_before")),
        )


@dataclass(slots=True)
class Order:
    client_order_id: str
    strategy_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    time_in_force: TimeInForce
    # Event time of the request: the bar that caused the order (a paper fill needs a later bar).
    event_time: datetime
    trace_id: str
    limit_price: Decimal | None = None
    # Per-hop publish times of the request (bar at ingest ... order at risk), for latency.
    trace: dict[str, int] = field(default_factory=dict)
    horizon: str | None = None
    reason: str = ""
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    commission: Decimal = ZERO
    venue_order_id: str | None = None
    # The tick at which the order was sent (write-ahead); reconciliation's freshness test.
    submit_tick: datetime | None = None
    events: list[OrderEvent] = field(default_factory=list)
    trade_ids: list[str] = field(default_factory=list)
    # Events already emitted as executions / already appended to the Redis event log.
    published: int = 0
    logged: int = 0
    # Loaded from the write-ahead log after a crash: sent (maybe) but never committed.
    recovered: bool = False
    # The JSON of to_dict() with the (events, published, logged) it was made at: an order changes
    # only through a new event or those counters, so the text is made once per change and
    # shared by the log's record and the snapshot.
    _text: tuple[tuple[int, int, int], str] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_request(cls, request: OrderRequest) -> Order:
        return cls(
            client_order_id=request.client_order_id,
            strategy_id=request.strategy_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            time_in_force=request.time_in_force,
            event_time=request.event_time,
            trace_id=request.trace_id,
            limit_price=request.limit_price,
            trace=dict(request.trace),
            horizon=request.horizon,
            reason=request.reason,
        )

    # -- views ---------------------------------------------------------------------------------
    @property
    def category(self) -> Category:
        return CATEGORY[self.status]

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def working(self) -> bool:
        return is_working(self.status)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def avg_fill_price(self) -> Decimal | None:
        """Exact volume-weighted average price of the fills (60-digit context)."""
        if not self.filled_quantity:
            return None
        with localcontext() as ctx:
            ctx.prec = _PREC
            return self.filled_notional / self.filled_quantity

    @property
    def sign(self) -> Decimal:
        return Decimal(1) if self.side is OrderSide.BUY else Decimal(-1)

    @property
    def unpublished(self) -> list[OrderEvent]:
        return self.events[self.published :]

    # -- transitions -----------------------------------------------------------------------
    def transition(
        self,
        new: OrderStatus,
        reason: str = "",
        *,
        venue_order_id: str | None = None,
        not_before: datetime | None = None,
    ) -> OrderEvent:
        """Move to ``new`` (refused with InvalidTransitionError if the state machine forbids it)."""
        if new in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            raise ValueError("fill statuses are reached through apply_fill, which books the fill")
        check_transition(self.client_order_id, self.status, new)
        if venue_order_id:
            self.venue_order_id = venue_order_id
        self.status = new
        return self._record(reason, None, not_before)

    def apply_fill(self, fill: FillRecord, *, not_before: datetime | None = None) -> OrderEvent:
        """Book one fill; the status becomes PARTIALLY_FILLED or FILLED. Nothing changes on error."""
        if fill.trade_id in self.trade_ids:
            raise DuplicateFillError(f"order {self.client_order_id}: trade {fill.trade_id} already booked")
        if fill.quantity <= 0 or fill.price <= 0:
            raise ValueError(f"order {self.client_order_id}: fill quantity and price must be positive")
        filled = self.filled_quantity + fill.quantity
        if filled > self.quantity:
            raise OverfillError(
                f"order {self.client_order_id}: a fill of {fill.quantity} would fill {filled}"
                f" of {self.quantity}"
            )
        new = OrderStatus.FILLED if filled == self.quantity else OrderStatus.PARTIALLY_FILLED
        check_transition(self.client_order_id, self.status, new)
        with localcontext() as ctx:
            ctx.prec = _PREC
            self.filled_notional += fill.quantity * fill.price
            self.commission += fill.commission
        self.filled_quantity = filled
        self.status = new
        self.trade_ids.append(fill.trade_id)
        return self._record("", fill, not_before if not_before is not None else fill.bar_time)

    def _record(self, reason: str, fill: FillRecord | None, not_before: datetime | None) -> OrderEvent:
        event = OrderEvent(
            sequence=len(self.events),
            status=self.status,
            filled_quantity=self.filled_quantity,
            filled_notional=self.filled_notional,
            venue_order_id=self.venue_order_id,
            reason=reason,
            fill=fill,
            not_before=not_before,
        )
        self.events.append(event)
        return event

    # -- messages --------------------------------------------------------------------------
    def execution(self, event: OrderEvent, event_time: datetime) -> Execution:
        """The execution of one event, built without re-validation (:func:`trusted`): every
        value already has its schema type (UTC datetimes from validated messages, Decimals fitted
        to the message by :func:`fits_message` and :func:`quantize_message`, enums), and the
        consumers validate on decode. ``tests/unit/executor`` checks it equals a validated one."""
        avg = None
        if event.filled_quantity:
            with localcontext() as ctx:
                ctx.prec = _PREC
                avg = quantize_message(event.filled_notional / event.filled_quantity)
        fill = None
        if event.fill is not None:
            fill = trusted(
                Fill,
                trade_id=event.fill.trade_id,
                quantity=event.fill.quantity,
                price=event.fill.price,
                commission=event.fill.commission,
            )
        return trusted(
            Execution,
            event_time=event_time,
            trace_id=self.trace_id,
            # Acknowledgements within the order's own tick close its bar-to-order trace; a fill
            # comes from a later bar and starts no latency of its own.
            trace=dict(self.trace) if event_time == self.event_time else {},
            client_order_id=self.client_order_id,
            venue_order_id=event.venue_order_id,
            strategy_id=self.strategy_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            status=event.status,
            quantity=self.quantity,
            filled_quantity=event.filled_quantity,
            avg_fill_price=avg,
            fill=fill,
            horizon=self.horizon,
            order_event_time=self.event_time,
            sequence=event.sequence,
            reason=event.reason[:512],
        )

    # -- persistence -----------------------------------------------------------------------
    def copy(self) -> Order:
        """What :meth:`from_dict` of :meth:`to_dict` gives (``recovered`` is not persisted),
        without the text: events and fills are immutable, so the lists are copied, not them."""
        return Order(
            self.client_order_id, self.strategy_id, self.symbol, self.side, self.order_type,
            self.quantity, self.time_in_force, self.event_time, self.trace_id, self.limit_price,
            dict(self.trace), self.horizon, self.reason, self.status, self.filled_quantity,
            self.filled_notional, self.commission, self.venue_order_id, self.submit_tick,
            list(self.events), list(self.trade_ids), self.published, self.logged,
        )  # fmt: skip

    def encoded(self) -> str:
        """The JSON of :meth:`to_dict` (with ``events`` last), made once per change of the order
        and from each event's own text (:meth:`OrderEvent.json`)."""
        key = (len(self.events), self.published, self.logged)
        text = self._text
        if text is None or text[0] != key:
            head = json.dumps(self.to_dict(events=False))
            events = ", ".join(e.json() for e in self.events)
            text = self._text = (key, f'{head[:-1]}, "events": [{events}]}}')
        return text[1]

    def to_dict(self, events: bool = True) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "strategy_id": self.strategy_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "quantity": str(self.quantity),
            "time_in_force": self.time_in_force.value,
            "event_time": self.event_time.isoformat(),
            "trace_id": self.trace_id,
            "trace": self.trace,
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "horizon": self.horizon,
            "reason": self.reason,
            "status": self.status.value,
            "filled_quantity": str(self.filled_quantity),
            "filled_notional": str(self.filled_notional),
            "commission": str(self.commission),
            "venue_order_id": self.venue_order_id,
            "submit_tick": _iso(self.submit_tick),
            "trade_ids": list(self.trade_ids),
            "published": self.published,
            "logged": self.logged,
            **({"events": [e.to_dict() for e in self.events]} if events else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        limit = data.get("limit_price")
        return cls(
            client_order_id=data["client_order_id"],
            strategy_id=data["strategy_id"],
            symbol=data["symbol"],
            side=OrderSide(data["side"]),
            order_type=OrderType(data["order_type"]),
            quantity=Decimal(data["quantity"]),
            time_in_force=TimeInForce(data["time_in_force"]),
            event_time=datetime.fromisoformat(data["event_time"]),
            trace_id=data["trace_id"],
            trace=dict(data.get("trace", {})),
            limit_price=None if limit is None else Decimal(limit),
            horizon=data.get("horizon"),
            reason=data.get("reason", ""),
            status=OrderStatus(data["status"]),
            filled_quantity=Decimal(data["filled_quantity"]),
            filled_notional=Decimal(data["filled_notional"]),
            commission=Decimal(data["commission"]),
            venue_order_id=data.get("venue_order_id"),
            submit_tick=_dt(data.get("submit_tick")),
            events=[OrderEvent.from_dict(e) for e in data.get("events", [])],
            trade_ids=list(data.get("trade_ids", [])),
            published=int(data.get("published", 0)),
            logged=int(data.get("logged", 0)),
        )

    def view(self) -> dict[str, Any]:
        """JSON view for GET /orders."""
        avg = self.avg_fill_price
        return {
            "client_order_id": self.client_order_id,
            "venue_order_id": self.venue_order_id,
            "strategy_id": self.strategy_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "time_in_force": self.time_in_force.value,
            "quantity": str(self.quantity),
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "status": self.status.value,
            "category": self.category.value,
            "filled_quantity": str(self.filled_quantity),
            "avg_fill_price": None if avg is None else str(quantize_message(avg)),
            "commission": str(self.commission),
            "event_time": self.event_time.isoformat(),
            "horizon": self.horizon,
            "reason": self.reason,
            "events": len(self.events),
            "trade_ids": list(self.trade_ids),
        }
