"""The book's gross exposure as one tick's pre-trade checks read it.

The checks used to sum ``|effective quantity| x last price`` over the whole book for every order:
O(symbols) per order, O(symbols^2) per tick. :class:`GrossBatch` reads the portfolio's running
total instead (O(1)); in the rare case where that sum would have rounded (wider than the context's
precision), it rebuilds the very sum the checks made, term order included, so the figure is the
same either way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, getcontext

from ridgeline_risk.portfolio import Portfolio
from ridgeline_risk.pretrade import book_gross

_ZERO = Decimal(0)


class GrossBatch:
    """One batch of checks (a tick's orders, or a flatten): the book as it stood when the batch
    began, sorted by symbol, and, after each order sent, that order's symbol at its value then plus
    the order (appended to the book if it was not in it). Orders of the batch are sent through
    :meth:`order_sent`, which books them in the portfolio."""

    def __init__(self, portfolio: Portfolio) -> None:
        self._portfolio = portfolio
        # Book value (start + orders of the batch) of the symbols with an order of the batch.
        self._sent: dict[str, Decimal] = {}
        self._joined: list[str] = []
        # The portfolio's effective quantities still equal the book values above (no sum of
        # quantities rounded, as none does below 10**16 units with 12 places).
        self._exact = True

    def order_sent(self, client_order_id: str, symbol: str, quantity: Decimal, event_time: datetime) -> None:
        portfolio = self._portfolio
        value = self._sent.get(symbol)
        if value is None:
            if portfolio.in_book(symbol):
                value = portfolio.effective_quantity(symbol)
            else:
                value = _ZERO
                self._joined.append(symbol)
        value = self._sent[symbol] = value + quantity
        portfolio.order_sent(client_order_id, symbol, quantity, event_time)
        self._exact = self._exact and value == portfolio.effective_quantity(symbol)

    def excluding(self, symbol: str) -> Decimal:
        portfolio = self._portfolio
        if self._exact:
            fast = portfolio.gross_excluding(symbol, getcontext().prec)
            if fast is not None:
                return fast
        joined = set(self._joined)
        order = [s for s in portfolio.symbols() if s not in joined] + self._joined
        book = {s: self._sent.get(s, portfolio.effective_quantity(s)) for s in order}
        return book_gross(book, portfolio.last_price)(symbol)
