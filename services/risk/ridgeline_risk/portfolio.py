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
from decimal import Context, Decimal, localcontext
from typing import Any

from ridgeline_risk.totals import EXACT, ExactSum, exponent_of, with_exponent
from ridgeline_shared.accounting import ZERO, Ledger, Position
from ridgeline_shared.messages import Execution, OrderSide, OrderStatus

TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})
_CTX_PREC = 60
_CTX = Context(prec=_CTX_PREC)


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


def exposures(ledger: Ledger) -> tuple[Decimal, Decimal]:
    """(gross, net) market value of the ledger's open positions, at their last prices."""
    with localcontext() as ctx:
        ctx.prec = _CTX_PREC
        values = [p.market_value for p in ledger.open_positions()]
        return sum((abs(v) for v in values), ZERO), sum(values, ZERO)


_BUY, _SELL = Decimal(1), Decimal(-1)


def _sign(side: OrderSide) -> Decimal:
    return _BUY if side is OrderSide.BUY else _SELL


class Portfolio:
    """The ledger, last prices and working orders, plus what risk reads of them on every order,
    kept as they change instead of recomputed over every position: each symbol's effective
    quantity (position + working orders), the equity and the book's gross exposure.

    Every figure equals, digit for digit, the from-scratch expression it replaces (the ``_scratch``
    methods, which the unit tests compare with); the totals fall back to it in the cases where
    that expression would have rounded (see :mod:`.totals`).
    """

    def __init__(self, initial_cash: Decimal, strategy_id: str, dedupe_window: int) -> None:
        self.strategy_id = strategy_id
        self.ledger = Ledger(cash=initial_cash)
        self.last_price: dict[str, Decimal] = {}
        self.working: dict[str, WorkingOrder] = {}
        self._trades = RecentIds(dedupe_window)
        self._closed = RecentIds(dedupe_window)
        self._reindex()

    def _reindex(self) -> None:
        """Derive the per-symbol index and the totals from the ledger, prices and working orders."""
        # symbol -> its working orders, in the order of ``working``.
        self._orders: dict[str, dict[str, WorkingOrder]] = {}
        for coid, order in self.working.items():
            self._orders.setdefault(order.symbol, {})[coid] = order
        self._effective: dict[str, Decimal] = {}
        # The book: symbols held or with a working order that has a remaining quantity.
        self._book: set[str] = set()
        # Market value of every ledger position (closed ones too, as ``Ledger.equity`` sums them).
        self._values = ExactSum()
        # |effective quantity| x last price over the book's symbols that have a price.
        self._gross = ExactSum()
        # Every position, in ledger order, for the views: a copy as of the last capture, or the
        # live one while it is in ``_stale`` (copied at the next capture).
        self._copies: dict[str, Position] = {}
        self._stale: set[str] = set()
        self._equity: Decimal | None = None
        for symbol in [*self.ledger.positions, *(self._orders.keys() | self.last_price.keys())]:
            self._rebook(symbol)
            self._revalue(symbol)

    def _revalue(self, symbol: str) -> None:
        """After the symbol's position or price changed: its market value and gross term."""
        self._equity = None
        pos = self.ledger.positions.get(symbol)
        if pos is not None:
            self._values.set(symbol, pos.market_value)
            if symbol not in self._stale:
                self._stale.add(symbol)
                self._copies[symbol] = pos
        self._gross_term(symbol)

    def _rebook(self, symbol: str) -> None:
        """After the symbol's position or working orders changed: its effective quantity, whether
        it is in the book, its gross term."""
        pos = self.ledger.positions.get(symbol)
        quantity = ZERO if pos is None else pos.quantity
        orders = self._orders.get(symbol)
        if orders:
            # As ``working_quantity`` sums them: in the current context, in ``working`` order.
            effective = quantity + sum((o.remaining for o in orders.values()), ZERO)
            in_book = bool(quantity) or any(o.remaining for o in orders.values())
        else:
            effective, in_book = quantity + ZERO, bool(quantity)
        self._effective[symbol] = effective
        if in_book:
            self._book.add(symbol)
        else:
            self._book.discard(symbol)
        self._gross_term(symbol)

    def _gross_term(self, symbol: str) -> None:
        price = self.last_price.get(symbol)
        if price is not None and symbol in self._book:
            self._gross.set(symbol, EXACT.multiply(abs(self._effective[symbol]), price))
        else:
            self._gross.discard(symbol)

    # -- inputs ----------------------------------------------------------------------------
    def mark(self, symbol: str, price: Decimal) -> None:
        self.last_price[symbol] = price
        self.ledger.mark(symbol, price)
        self._revalue(symbol)

    def order_sent(
        self, client_order_id: str, symbol: str, signed_quantity: Decimal, event_time: datetime
    ) -> None:
        self._put(client_order_id, WorkingOrder(symbol, signed_quantity, event_time))
        self._rebook(symbol)

    def _put(self, coid: str, order: WorkingOrder) -> None:
        previous = self.working.get(coid)
        if previous is not None and previous.symbol != order.symbol:
            self._drop(coid)
        self.working[coid] = order
        self._orders.setdefault(order.symbol, {})[coid] = order

    def _drop(self, coid: str) -> WorkingOrder | None:
        order = self.working.pop(coid, None)
        if order is not None:
            orders = self._orders[order.symbol]
            del orders[coid]
            if not orders:
                del self._orders[order.symbol]
        return order

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
        tracked = self._track(execution)
        if booked:
            self._rebook(execution.symbol)
            self._revalue(execution.symbol)
        if tracked is not None and (tracked != execution.symbol or not booked):
            self._rebook(tracked)
        return booked

    def _track(self, execution: Execution) -> str | None:
        """Follow the order's remaining quantity; returns the symbol whose orders changed."""
        coid = execution.client_order_id
        order = self.working.get(coid)
        if execution.status in TERMINAL:
            dropped = self._drop(coid)
            self._closed.add(coid)
            return None if dropped is None else dropped.symbol
        if order is None:
            # Working at the venue but unknown here (sent before a restart without snapshot, or
            # by the executor's reconciliation): track it unless it already closed.
            if coid in self._closed or execution.status is OrderStatus.DENIED:
                return None
            order = WorkingOrder(execution.symbol, ZERO, execution.order_event_time)
            self._put(coid, order)
            changed = True
        elif execution.sequence < order.sequence:
            return None  # an older status of a known order: nothing changes
        else:
            changed = False
        remaining = _CTX.multiply(
            _sign(execution.side), _CTX.subtract(execution.quantity, execution.filled_quantity)
        )
        # An acknowledgement leaves the remaining quantity as it was (written the same).
        changed = changed or remaining != order.remaining or not remaining.same_quantum(order.remaining)
        order.remaining = remaining
        order.sequence = execution.sequence
        return order.symbol if changed else None

    # -- views -----------------------------------------------------------------------------
    @property
    def equity(self) -> Decimal:
        """``Ledger.equity`` (cash plus every position's market value, 60 digits)."""
        if self._equity is None:
            cash, values = self.ledger.cash, self._values
            exponent = values.min_exponent(min(0, exponent_of(cash)))
            if values.reads_as_sum(_CTX_PREC, extra=cash, exponent=exponent):
                self._equity = with_exponent(EXACT.add(cash, values.total), exponent)
            else:
                self._equity = self.ledger.equity
        return self._equity

    def ledger_copy(self) -> Ledger:
        """The ledger as it is now, for views built later in another thread (O(positions) copy of
        references: the positions in it are copies that nothing changes)."""
        for symbol in self._stale:
            pos = self._copies[symbol]
            self._copies[symbol] = Position(symbol, pos.quantity, pos.cost, pos.realized_pnl, pos.last_price)
        self._stale.clear()
        ledger = self.ledger
        return Ledger(
            cash=ledger.cash,
            positions=dict(self._copies),
            commissions=ledger.commissions,
            realized_pnl=ledger.realized_pnl,
            fills=ledger.fills,
        )

    def working_copy(self) -> dict[str, tuple[str, Decimal]]:
        """``client order id -> (symbol, remaining)`` of the working orders, in order."""
        return {coid: (o.symbol, o.remaining) for coid, o in self.working.items()}

    def working_quantity(self, symbol: str) -> Decimal:
        orders = self._orders.get(symbol)
        return sum((o.remaining for o in orders.values()), ZERO) if orders else ZERO

    def working_before(self, symbol: str, event_time: datetime) -> Decimal:
        """Working quantity of orders sent before ``event_time`` (or at an unknown time)."""
        orders = self._orders.get(symbol, {})
        return sum(
            (o.remaining for o in orders.values() if o.sent_at is None or o.sent_at < event_time),
            ZERO,
        )

    def has_working(self, symbol: str) -> bool:
        return symbol in self._orders

    def effective_quantity(self, symbol: str) -> Decimal:
        """Position plus working orders: what the holding will be once they fill."""
        return self._effective.get(symbol, ZERO)

    def in_book(self, symbol: str) -> bool:
        return symbol in self._book

    def symbols(self) -> list[str]:
        """Every symbol with a position or a working order."""
        return sorted(self._book)

    def effective_book(self) -> dict[str, Decimal]:
        effective = self._effective
        return {s: effective[s] for s in sorted(self._book)}

    def gross_excluding(self, symbol: str, prec: int) -> Decimal | None:
        """The book's gross exposure without ``symbol``: the sum of ``|effective| x last price`` in
        ``prec`` digits (a pre-trade check's), or None when that sum would round (some term or
        running total wider than ``prec`` digits), where only the sum itself gives its digits."""
        gross = self._gross
        if gross.widest() > prec or not gross.reads_as_sum(prec):
            return None
        return EXACT.subtract(gross.total, gross.terms.get(symbol, ZERO))

    def exposures(self) -> tuple[Decimal, Decimal]:
        """(gross, net) market value of the positions, at the last prices."""
        return exposures(self.ledger)

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
        self._reindex()
