"""Risk's view of the portfolio, built from the executions stream only: the exact ledger, the
last price of every symbol, and the orders risk sent that are still working.

Fills are deduplicated by trade id, so a redelivered execution never books twice. An order is
working from the moment risk emits it until an execution reports it FILLED, CANCELED, EXPIRED
or REJECTED; its remaining quantity follows the executor's cumulative ``filled_quantity``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from ridgeline_shared.accounting import ZERO, Ledger
from ridgeline_shared.messages import Execution, OrderSide, OrderStatus

TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})
_CTX_PREC = 60


class RecentIds:
    """A set of the last ``size`` ids (insertion order), for bounded deduplication."""

    __slots__ = ("_order", "_set", "size")

    def __init__(self, size: int, ids: Iterable[str] = ()) -> None:
        self.size = size
        self._order: deque[str] = deque()
        self._set: set[str] = set()
        for item in ids:
            self.add(item)

    def __contains__(self, item: object) -> bool:
        return item in self._set

    def __len__(self) -> int:
        return len(self._order)

    def add(self, item: str) -> None:
        if item in self._set:
            return
        self._order.append(item)
        self._set.add(item)
        while len(self._order) > self.size:
            self._set.discard(self._order.popleft())

    def to_list(self) -> list[str]:
        return list(self._order)


@dataclass(slots=True)
class WorkingOrder:
    symbol: str
    remaining: Decimal  # signed: buy > 0
    sent_at: datetime | None  # event time of the order request (None: unknown)
    sequence: int = -1


def _sign(side: OrderSide) -> Decimal:
    return Decimal(1) if side is OrderSide.BUY else Decimal(-1)


class Portfolio:
    def __init__(self, initial_cash: Decimal, strategy_id: str, dedupe_window: int) -> None:
        self.strategy_id = strategy_id
        self.ledger = Ledger(cash=initial_cash)
        self.last_price: dict[str, Decimal] = {}
        self.working: dict[str, WorkingOrder] = {}
        self._trades = RecentIds(dedupe_window)
        self._closed = RecentIds(dedupe_window)

    # -- inputs ----------------------------------------------------------------------------
    def mark(self, symbol: str, price: Decimal) -> None:
        self.last_price[symbol] = price
        self.ledger.mark(symbol, price)

    def order_sent(
        self, client_order_id: str, symbol: str, signed_quantity: Decimal, event_time: datetime
    ) -> None:
        self.working[client_order_id] = WorkingOrder(symbol, signed_quantity, event_time)

    def apply_execution(self, execution: Execution) -> bool:
        """Book the fill (once per trade id) and update the working order; True if a fill booked."""
        if execution.strategy_id != self.strategy_id:
            return False
        booked = False
        fill = execution.fill
        if fill is not None and fill.trade_id not in self._trades:
            self._trades.add(fill.trade_id)
            sign = _sign(execution.side)
            self.ledger.apply_fill(execution.symbol, sign * fill.quantity, fill.price, fill.commission)
            # The fill moved the position's price to the fill's; equity is marked to the last bar.
            last = self.last_price.get(execution.symbol)
            if last is not None:
                self.ledger.mark(execution.symbol, last)
            else:
                self.last_price[execution.symbol] = fill.price
            booked = True
        self._track(execution)
        return booked

    def _track(self, execution: Execution) -> None:
        coid = execution.client_order_id
        order = self.working.get(coid)
        if execution.status in TERMINAL:
            self.working.pop(coid, None)
            self._closed.add(coid)
            return
        if order is None:
            # Working at the venue but unknown here (sent before a restart without snapshot, or
            # by the executor's reconciliation): track it unless it already closed.
            if coid in self._closed or execution.status is OrderStatus.DENIED:
                return
            order = self.working[coid] = WorkingOrder(execution.symbol, ZERO, execution.order_event_time)
        if execution.sequence < order.sequence:
            return
        with localcontext() as ctx:
            ctx.prec = _CTX_PREC
            order.remaining = _sign(execution.side) * (execution.quantity - execution.filled_quantity)
        order.sequence = execution.sequence

    # -- views -----------------------------------------------------------------------------
    @property
    def equity(self) -> Decimal:
        return self.ledger.equity

    def working_quantity(self, symbol: str) -> Decimal:
        return sum((o.remaining for o in self.working.values() if o.symbol == symbol), ZERO)

    def working_before(self, symbol: str, event_time: datetime) -> Decimal:
        """Working quantity of orders sent before ``event_time`` (or at an unknown time)."""
        return sum(
            (
                o.remaining
                for o in self.working.values()
                if o.symbol == symbol and (o.sent_at is None or o.sent_at < event_time)
            ),
            ZERO,
        )

    def has_working(self, symbol: str) -> bool:
        return any(o.symbol == symbol for o in self.working.values())

    def effective_quantity(self, symbol: str) -> Decimal:
        """Position plus working orders: what the holding will be once they fill."""
        return self.ledger.quantity(symbol) + self.working_quantity(symbol)

    def symbols(self) -> list[str]:
        """Every symbol with a position or a working order."""
        held = {s for s, p in self.ledger.positions.items() if p.quantity}
        held.update(o.symbol for o in self.working.values() if o.remaining)
        return sorted(held)

    def effective_book(self) -> dict[str, Decimal]:
        return {s: self.effective_quantity(s) for s in self.symbols()}

    def exposures(self) -> tuple[Decimal, Decimal]:
        """(gross, net) market value of the positions, at the last prices."""
        with localcontext() as ctx:
            ctx.prec = _CTX_PREC
            values = [p.market_value for p in self.ledger.open_positions()]
            return sum((abs(v) for v in values), ZERO), sum(values, ZERO)

    # -- state -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger.to_dict(),
            "last_price": {s: str(self.last_price[s]) for s in sorted(self.last_price)},
            "working": {
                coid: [
                    o.symbol,
                    str(o.remaining),
                    None if o.sent_at is None else o.sent_at.isoformat(),
                    o.sequence,
                ]
                for coid, o in sorted(self.working.items())
            },
            "trades": self._trades.to_list(),
            "closed": self._closed.to_list(),
        }

    def load(self, data: dict[str, Any]) -> None:
        self.ledger = Ledger.from_dict(data["ledger"])
        self.last_price = {s: Decimal(p) for s, p in data["last_price"].items()}
        self.working = {
            coid: WorkingOrder(
                symbol, Decimal(rem), None if at is None else datetime.fromisoformat(at), int(seq)
            )
            for coid, (symbol, rem, at, seq) in data["working"].items()
        }
        self._trades = RecentIds(self._trades.size, data["trades"])
        self._closed = RecentIds(self._closed.size, data["closed"])
