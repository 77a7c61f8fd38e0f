"""The paper venue's matching rules (MATH.md s.4), pure: no I/O, exact prices.

- Never on the causing bar: an order may fill only on a bar whose event time is later than the
  order's own event time (the bar that caused it). The executor sends the orders made at tick T
  after bar T is matched, so a market order made at bar T-1 fills at bar T's open.
- Market orders fill at the bar's open moved against the trader by half the spread plus the
  square-root impact ``k3 x sigma_daily x sqrt(q / ADV)`` (both in bps): buys pay up, sells
  receive less. The price is then put on the tick grid, rounded against the trader (buys up,
  sells down), so the simulator never flatters a fill.
- Limit orders fill when the bar trades *through* the limit (low < limit for a buy, high > limit
  for a sell), at the limit or at the open's fill price if that is better (a gap through it).
- Spread, volatility and volume come from bars before the fill bar only: at the open of bar T
  the venue cannot know bar T's range.
- ``max_participation`` caps a fill at a fraction of the bar's volume; the remainder keeps
  working. IOC orders cancel what the first eligible bar leaves; DAY orders expire when a bar
  of a later UTC day opens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any

from ridgeline_executor.brokers.base import BrokerFill, BrokerOrder, OrderSpec
from ridgeline_executor.money import BPS, PREC, commission, to_grid
from ridgeline_shared.accounting import ZERO, to_decimal
from ridgeline_shared.ids import stable_id, trade_id
from ridgeline_shared.market import impact_bps
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

_PREC = PREC
WORKING = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


def venue_order_id(venue: str, client_order_id: str) -> str:
    return stable_id("P", venue, client_order_id, size=16)


@dataclass(frozen=True, slots=True)
class BarView:
    """The parts of a bar matching reads, with prices as exact decimals."""

    symbol: str
    event_time: datetime
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class CostInputs:
    """Market statistics known at the fill bar's open (from earlier bars only)."""

    spread_bps: float
    sigma_daily_bps: float | None
    adv: float | None


@dataclass(frozen=True, slots=True)
class MatchParams:
    tick: Decimal
    commission_bps: Decimal
    commission_quantum: Decimal
    quantity_step: Decimal
    impact_k3: float = 1.0
    max_participation: Decimal | None = None


@dataclass(slots=True)
class PaperOrder:
    """The venue's own record of an order."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    time_in_force: TimeInForce
    event_time: datetime
    limit_price: Decimal | None = None
    status: OrderStatus = OrderStatus.ACCEPTED
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    fills: list[BrokerFill] = field(default_factory=list)
    reason: str = ""
    # The JSON of the fields above ``status``, which never change: made once per order.
    _head: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_spec(cls, venue: str, spec: OrderSpec) -> PaperOrder:
        return cls(
            client_order_id=spec.client_order_id,
            venue_order_id=venue_order_id(venue, spec.client_order_id),
            symbol=spec.symbol,
            side=spec.side,
            order_type=spec.order_type,
            quantity=spec.quantity,
            time_in_force=spec.time_in_force,
            event_time=spec.event_time,
            limit_price=spec.limit_price,
        )

    @property
    def working(self) -> bool:
        return self.status in WORKING

    def copy(self) -> PaperOrder:
        """An independent copy (every field but ``fills`` is immutable)."""
        order = PaperOrder(
            self.client_order_id, self.venue_order_id, self.symbol, self.side, self.order_type,
            self.quantity, self.time_in_force, self.event_time, self.limit_price, self.status,
            self.filled_quantity, self.filled_notional, list(self.fills), self.reason,
        )  # fmt: skip
        order._head = self._head
        return order

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``, the unchanging part made once."""
        head = self._head
        if head is None:
            head = self._head = json.dumps(self._static())[:-1]
        return f"{head}, {json.dumps(self._changing())[1:]}"

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    def report(self) -> BrokerOrder:
        avg = None
        if self.filled_quantity:
            with localcontext() as ctx:
                ctx.prec = _PREC
                avg = self.filled_notional / self.filled_quantity
        return BrokerOrder(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            quantity=self.quantity,
            status=self.status,
            filled_quantity=self.filled_quantity,
            avg_fill_price=avg,
            fills=tuple(self.fills),
            limit_price=self.limit_price,
            reason=self.reason,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self._static(), **self._changing()}

    def _static(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "venue_order_id": self.venue_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "quantity": str(self.quantity),
            "time_in_force": self.time_in_force.value,
            "event_time": self.event_time.isoformat(),
            "limit_price": None if self.limit_price is None else str(self.limit_price),
        }

    def _changing(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "filled_quantity": str(self.filled_quantity),
            "filled_notional": str(self.filled_notional),
            "fills": [
                {
                    "trade_id": f.trade_id,
                    "quantity": str(f.quantity),
                    "price": str(f.price),
                    "commission": str(f.commission),
                    "bar_time": f.bar_time.isoformat() if f.bar_time else None,
                }
                for f in self.fills
            ],
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaperOrder:
        limit = data.get("limit_price")
        return cls(
            client_order_id=data["client_order_id"],
            venue_order_id=data["venue_order_id"],
            symbol=data["symbol"],
            side=OrderSide(data["side"]),
            order_type=OrderType(data["order_type"]),
            quantity=Decimal(data["quantity"]),
            time_in_force=TimeInForce(data["time_in_force"]),
            event_time=datetime.fromisoformat(data["event_time"]),
            limit_price=None if limit is None else Decimal(limit),
            status=OrderStatus(data["status"]),
            filled_quantity=Decimal(data["filled_quantity"]),
            filled_notional=Decimal(data["filled_notional"]),
            fills=[
                BrokerFill(
                    trade_id=f["trade_id"],
                    quantity=Decimal(f["quantity"]),
                    price=Decimal(f["price"]),
                    commission=Decimal(f["commission"]),
                    bar_time=datetime.fromisoformat(f["bar_time"]) if f.get("bar_time") else None,
                )
                for f in data.get("fills", [])
            ],
            reason=data.get("reason", ""),
        )


def slippage_bps(costs: CostInputs, quantity: Decimal, k3: float) -> Decimal:
    """Half the spread plus the square-root impact, in bps, as an exact decimal of the float."""
    sigma = costs.sigma_daily_bps or 0.0
    total = 0.5 * costs.spread_bps + impact_bps(sigma, float(quantity), costs.adv, k3)
    return to_decimal(total)


def market_price(open_: Decimal, side: OrderSide, adjust_bps: Decimal, tick: Decimal) -> Decimal:
    """The open moved against the trader by ``adjust_bps``, on the tick grid against the trader."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        factor = adjust_bps / BPS
        if side is OrderSide.BUY:
            return to_grid(open_ * (1 + factor), tick, ROUND_CEILING)
        price = to_grid(open_ * (1 - factor), tick, ROUND_FLOOR)
        return price if price > 0 else tick


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What one bar did to one order: maybe a fill, maybe a final status."""

    fill: BrokerFill | None = None
    status: OrderStatus | None = None
    reason: str = ""


def match(order: PaperOrder, bar: BarView, costs: CostInputs, params: MatchParams, venue: str) -> MatchResult:
    """Match one working order against one bar (the order is not modified)."""
    if not order.working or bar.symbol != order.symbol:
        return MatchResult()
    if bar.event_time <= order.event_time:
        return MatchResult()  # the causing bar (or an earlier one) never fills its own order
    if order.time_in_force is TimeInForce.DAY and bar.open_time.date() > order.event_time.date():
        return MatchResult(status=OrderStatus.EXPIRED, reason="day order expired at the session end")
    leftover = OrderStatus.CANCELED if order.time_in_force is TimeInForce.IOC else None
    quantity = order.remaining
    if params.max_participation is not None:
        with localcontext() as ctx:
            ctx.prec = _PREC
            cap = to_grid(bar.volume * params.max_participation, params.quantity_step, ROUND_FLOOR)
        quantity = min(quantity, cap)
    if quantity <= 0:
        return MatchResult(status=leftover, reason="ioc: nothing filled" if leftover else "")
    at_open = market_price(bar.open, order.side, slippage_bps(costs, quantity, params.impact_k3), params.tick)
    if order.order_type is OrderType.MARKET:
        price = at_open
    else:
        limit = order.limit_price
        assert limit is not None
        if order.side is OrderSide.BUY:
            if not bar.low < limit and not at_open <= limit:
                return MatchResult(status=leftover, reason="ioc: limit not reached" if leftover else "")
            price = min(limit, at_open)
        else:
            if not bar.high > limit and not at_open >= limit:
                return MatchResult(status=leftover, reason="ioc: limit not reached" if leftover else "")
            price = max(limit, at_open)
    fill = BrokerFill(
        trade_id=trade_id(venue, order.client_order_id, len(order.fills)),
        quantity=quantity,
        price=price,
        commission=commission(quantity, price, params.commission_bps, params.commission_quantum),
        bar_time=bar.event_time,
    )
    full = quantity == order.remaining
    status = None if full else leftover
    return MatchResult(fill=fill, status=status, reason="ioc: remainder canceled" if status else "")


def apply_match(order: PaperOrder, result: MatchResult) -> None:
    """Book a match result on the venue's order record."""
    if result.fill is not None:
        fill = result.fill
        with localcontext() as ctx:
            ctx.prec = _PREC
            order.filled_notional += fill.quantity * fill.price
        order.filled_quantity += fill.quantity
        order.fills.append(fill)
        order.status = (
            OrderStatus.FILLED if order.filled_quantity == order.quantity else OrderStatus.PARTIALLY_FILLED
        )
    if result.status is not None and order.working:
        order.status = result.status
        order.reason = result.reason
