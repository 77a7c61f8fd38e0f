"""The paper venue's books, as its logic (:mod:`.broker`) sees them: records and the protocol.

The books are kept per symbol, so a unit of work reads and writes only the symbols it touches:

- orders by client id (every order the venue ever took), and the working ones per symbol;
- per symbol a :class:`SymbolBook`: the event time of the last bar matched (the idempotency
  marker), that bar's close (the buying power check's price) and the symbol's position;
- per symbol the last bars' (high, low, close, volume), as many as the market statistics'
  longest window needs: replaying them rebuilds the statistics bit for bit, so a bar appends one
  entry instead of re-encoding whole windows;
- the account's totals (:class:`Totals`: cash, commissions, realised PnL, fill count).

A :class:`Slice` is what one unit of work reads in one go (at most one Redis round trip): the totals,
the books of some symbols, optionally their working orders and some orders by client id. The
venue's :class:`~ridgeline_shared.accounting.Ledger` is assembled from a slice (the totals plus
the slice's positions), which is exact because a fill changes only its own symbol's position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from ridgeline_executor.brokers.base import BrokerOrder
from ridgeline_executor.brokers.paper.matching import PaperOrder
from ridgeline_shared.accounting import ZERO, Ledger, Position

T = TypeVar("T")

# (high, low, close, volume) of one bar, as the bar carried them.
BarFigures = tuple[float, float, float, float]


@dataclass(slots=True)
class Totals:
    """The venue account's figures that are not per symbol."""

    cash: Decimal
    commissions: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fills: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cash": str(self.cash),
            "commissions": str(self.commissions),
            "realized_pnl": str(self.realized_pnl),
            "fills": self.fills,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        return cls(
            Decimal(data["cash"]),
            Decimal(data["commissions"]),
            Decimal(data["realized_pnl"]),
            int(data["fills"]),
        )


@dataclass(slots=True)
class SymbolBook:
    """One symbol's part of the books."""

    last_bar: datetime | None = None
    close: float | None = None
    position: Position | None = None

    def copy(self) -> SymbolBook:
        p = self.position
        return SymbolBook(
            self.last_bar,
            self.close,
            None if p is None else Position(p.symbol, p.quantity, p.cost, p.realized_pnl, p.last_price),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "bar": None if self.last_bar is None else self.last_bar.isoformat(),
            "close": self.close,
            "position": None if self.position is None else self.position.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SymbolBook:
        bar, position = data.get("bar"), data.get("position")
        return cls(
            None if bar is None else datetime.fromisoformat(bar),
            data.get("close"),
            None if position is None else Position.from_dict(position),
        )


@dataclass(slots=True)
class Slice:
    """What a unit of work read: the totals, the books of the symbols it asked for (a symbol the
    venue never saw gets an empty book), their working orders (by client id) if asked, the
    reports of every working order if asked, and the orders asked for by client id (absent:
    unknown to the venue)."""

    totals: Totals
    symbols: dict[str, SymbolBook]
    working: dict[str, list[PaperOrder]] = field(default_factory=dict)
    open: dict[str, BrokerOrder] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)

    def ledger(self) -> Ledger:
        """The venue ledger restricted to the slice's symbols (its positions are the books')."""
        t = self.totals
        positions = {s: p for s in sorted(self.symbols) if (p := self.symbols[s].position) is not None}
        return Ledger(t.cash, positions, t.commissions, t.realized_pnl, t.fills)

    def take_ledger(self, ledger: Ledger) -> None:
        """Put a ledger assembled by :meth:`ledger` back: totals and the slice's positions."""
        self.totals = Totals(ledger.cash, ledger.commissions, ledger.realized_pnl, ledger.fills)
        for symbol, book in self.symbols.items():
            book.position = ledger.positions.get(symbol)


def full_ledger(totals: Totals, books: dict[str, SymbolBook]) -> Ledger:
    """The whole venue ledger (positions in symbol order, as the Ledger's own records keep them)."""
    positions = {s: p for s in sorted(books) if (p := books[s].position) is not None}
    return Ledger(totals.cash, positions, totals.commissions, totals.realized_pnl, totals.fills)


class BooksView(Protocol):
    """The books as one unit of work sees them. Reads return fresh objects (changing them changes
    nothing until written); writes take effect when the unit of work completes."""

    def slice(
        self,
        symbols: Iterable[str],
        initial_cash: Decimal,
        *,
        working: bool = False,
        open: bool = False,
        orders: Sequence[str] = (),
    ) -> Slice:
        """Totals (``initial_cash`` before anything happened), the books of ``symbols`` (and
        their working orders if ``working``, each symbol's sorted by client id), the reports of
        every working order by client id if ``open``, and the ``orders`` asked for: one read."""
        ...

    def orders(self, client_order_ids: Sequence[str]) -> dict[str, PaperOrder]:
        """The known ones of these orders."""
        ...

    def reports(self, client_order_ids: Sequence[str]) -> dict[str, BrokerOrder]:
        """The venue's reports of the known ones of these orders (read-only views)."""
        ...

    def open_reports(self) -> list[BrokerOrder]:
        """Reports of every working order, by client id."""
        ...

    def everything(self, initial_cash: Decimal) -> tuple[Totals, dict[str, SymbolBook]]:
        """The totals and every symbol's book (positions and account views)."""
        ...

    def history(self, symbols: Sequence[str], keep: int) -> dict[str, list[BarFigures]]:
        """The last ``keep`` bars of each symbol (or all it has), oldest first."""
        ...

    def put_order(self, order: PaperOrder) -> BrokerOrder:
        """Write the order; its report, the very object reads hand out until it changes."""
        ...

    def put_symbol(self, symbol: str, book: SymbolBook) -> None: ...
    def put_totals(self, totals: Totals) -> None: ...
    def push_bar(self, symbol: str, figures: BarFigures, keep: int) -> None:
        """Append one bar's figures to the symbol's history, keeping at least the last ``keep``."""
        ...


class PaperBooks(Protocol):
    def transact(self, work: Callable[[BooksView], T], guard: Iterable[str]) -> T:
        """Run ``work`` as one unit: its writes apply together, and only if none of the ``guard``
        books (``orders``, ``totals``, ``symbols``) changed meanwhile (else it runs again); its
        reads see its own writes. Raises BrokerUnavailableError when the books cannot be
        reached."""
        ...

    def read(self, work: Callable[[BooksView], T]) -> T:
        """Run read-only ``work`` against the current books."""
        ...
