"""Where the paper venue keeps its books: written by the venue itself (never through the
executor's transactions), as a real venue keeps its books apart from its clients.

The venue's logic (:mod:`.broker`) runs every operation as one unit of work through
:class:`~.books.PaperBooks`: it reads through a :class:`~.books.BooksView`, and its writes apply
together or not at all. The records and the protocol are in :mod:`.books`; the two
implementations, :class:`PaperState` (Redis) and :class:`MemoryPaperState` (the in-process
backtest), in :mod:`.redis_books` and :mod:`.memory_books`.
"""

from ridgeline_executor.brokers.paper.books import BooksView, PaperBooks, Slice, SymbolBook, Totals
from ridgeline_executor.brokers.paper.memory_books import MemoryPaperState
from ridgeline_executor.brokers.paper.redis_books import PaperState

__all__ = ["BooksView", "MemoryPaperState", "PaperBooks", "PaperState", "Slice", "SymbolBook", "Totals"]
