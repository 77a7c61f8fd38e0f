"""The paper venue's books in memory, for one process (the in-process backtest, no Redis).

The same records as :mod:`.redis_books` keeps, as objects: reads hand out copies and writes store
copies taken when written, exactly when the Redis books serialise, so the venue logic sees the
same books on either and a unit of work that fails leaves nothing behind. Units of work run one
at a time under a lock, so guards are moot.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

from ridgeline_executor.brokers.base import BrokerOrder
from ridgeline_executor.brokers.paper.books import BarFigures, BooksView, Slice, SymbolBook, Totals
from ridgeline_executor.brokers.paper.matching import PaperOrder

T = TypeVar("T")


def _totals(totals: Totals | None, initial_cash: Decimal) -> Totals:
    if totals is None:
        return Totals(initial_cash)
    return Totals(totals.cash, totals.commissions, totals.realized_pnl, totals.fills)


class MemoryPaperState:
    def __init__(self) -> None:
        self.orders: dict[str, PaperOrder] = {}
        self.working: dict[str, set[str]] = {}  # symbol -> working client ids
        self.symbols: dict[str, SymbolBook] = {}
        self.totals: Totals | None = None
        self.bars: dict[str, deque[BarFigures]] = {}
        self._reports: dict[str, BrokerOrder] = {}
        self._lock = threading.Lock()

    def report(self, client_order_id: str) -> BrokerOrder:
        """The stored order's report, made once per write (stored orders never change)."""
        report = self._reports.get(client_order_id)
        if report is None:
            report = self._reports[client_order_id] = self.orders[client_order_id].report()
        return report

    def transact(self, work: Callable[[BooksView], T], guard: Iterable[str]) -> T:
        with self._lock:
            view = _MemoryView(self)
            result = work(view)
            view.apply()
            return result

    def read(self, work: Callable[[BooksView], T]) -> T:
        with self._lock:
            return work(_MemoryView(self))


class _MemoryView:
    def __init__(self, state: MemoryPaperState) -> None:
        self.state = state
        self._orders: dict[str, tuple[PaperOrder, BrokerOrder]] = {}
        self._symbols: dict[str, SymbolBook] = {}
        self._totals: Totals | None = None
        self._bars: list[tuple[str, BarFigures, int]] = []

    # -- reads: the books with this unit's own writes -----------------------------------------
    def _order(self, client_order_id: str) -> PaperOrder | None:
        own = self._orders.get(client_order_id)
        return own[0] if own is not None else self.state.orders.get(client_order_id)

    def _report(self, client_order_id: str) -> BrokerOrder:
        own = self._orders.get(client_order_id)
        return own[1] if own is not None else self.state.report(client_order_id)

    def _working(self) -> set[str]:
        ids = {c for symbol_ids in self.state.working.values() for c in symbol_ids}
        for cid, (order, _) in self._orders.items():
            (ids.add if order.working else ids.discard)(cid)
        return ids

    def slice(
        self,
        symbols: Iterable[str],
        initial_cash: Decimal,
        *,
        working: bool = False,
        open: bool = False,
        orders: Sequence[str] = (),
    ) -> Slice:
        state = self.state
        out = Slice(_totals(self._totals or state.totals, initial_cash), {})
        names = list(symbols)
        for symbol in names:
            book = self._symbols.get(symbol) or state.symbols.get(symbol)
            out.symbols[symbol] = SymbolBook() if book is None else book.copy()
        if working:
            ids = {symbol: set(state.working.get(symbol, ())) for symbol in names}
            for cid, (order, _) in self._orders.items():
                if order.symbol in ids:
                    (ids[order.symbol].add if order.working else ids[order.symbol].discard)(cid)
            out.working = {s: [self._copy(c) for c in sorted(ids[s])] for s in names}
        if open:
            out.open = {r.client_order_id: r for r in self.open_reports()}
        out.orders = self.orders(orders)
        return out

    def _copy(self, client_order_id: str) -> PaperOrder:
        order = self._order(client_order_id)
        assert order is not None
        return order.copy()

    def orders(self, client_order_ids: Sequence[str]) -> dict[str, PaperOrder]:
        return {c: order.copy() for c in client_order_ids if (order := self._order(c)) is not None}

    def reports(self, client_order_ids: Sequence[str]) -> dict[str, BrokerOrder]:
        return {c: self._report(c) for c in client_order_ids if self._order(c) is not None}

    def open_reports(self) -> list[BrokerOrder]:
        return [self._report(c) for c in sorted(self._working())]

    def everything(self, initial_cash: Decimal) -> tuple[Totals, dict[str, SymbolBook]]:
        state = self.state
        books = {s: b.copy() for s, b in (state.symbols | self._symbols).items()}
        return _totals(self._totals or state.totals, initial_cash), books

    def history(self, symbols: Sequence[str], keep: int) -> dict[str, list[BarFigures]]:
        if any(symbol == own for symbol in symbols for own, _, _ in self._bars):
            raise RuntimeError("history read after this unit's own bars: not supported")
        return {s: list(self.state.bars.get(s, ()))[-keep:] for s in symbols}

    # -- writes ----------------------------------------------------------------------------
    def put_order(self, order: PaperOrder) -> BrokerOrder:
        stored = order.copy()
        report = stored.report()
        self._orders[order.client_order_id] = (stored, report)
        return report

    def put_symbol(self, symbol: str, book: SymbolBook) -> None:
        self._symbols[symbol] = book.copy()

    def put_totals(self, totals: Totals) -> None:
        self._totals = _totals(totals, totals.cash)

    def push_bar(self, symbol: str, figures: BarFigures, keep: int) -> None:
        self._bars.append((symbol, figures, keep))

    def apply(self) -> None:
        state = self.state
        for cid, (order, report) in self._orders.items():
            state.orders[cid] = order
            state._reports[cid] = report
            ids = state.working.setdefault(order.symbol, set())
            if order.working:
                ids.add(cid)
            else:
                ids.discard(cid)
        state.symbols.update(self._symbols)
        if self._totals is not None:
            state.totals = self._totals
        for symbol, figures, keep in self._bars:
            rows = state.bars.get(symbol)
            if rows is None or rows.maxlen != keep:
                rows = state.bars[symbol] = deque(rows or (), maxlen=keep)
            rows.append(figures)
