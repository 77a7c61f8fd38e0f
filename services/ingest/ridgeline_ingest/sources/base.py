"""The one protocol every source speaks, and the merge that turns per-symbol historical streams
into batches ordered by event time."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from ridgeline_ingest.rows import BadRow, Batch, RawRow, SourceItem, SymbolEnd


@runtime_checkable
class BarSource(Protocol):
    """Where raw rows come from: files, a generator, a provider's stream.

    ``poll`` returns what is available now: an empty batch when nothing is, None when the source
    is exhausted (historical sources only; a live source never ends by itself). Historical sources
    return one close time per batch with its ``watermark``; live sources return whatever arrived.
    """

    label: str  # short name stamped on bars (``Bar.source``)
    historical: bool

    def symbols(self) -> tuple[str, ...]: ...

    def start(self) -> None: ...

    def poll(self) -> Batch | None: ...

    def close(self) -> None: ...

    def total_rows(self) -> int | None:
        """Rows the source will produce, when cheaply known (replay progress)."""
        ...


@dataclass(slots=True)
class SymbolStream:
    """One symbol's rows in source order (a file, a generator)."""

    symbol: str
    rows: Iterator[RawRow | BadRow]
    total_rows: int | None = None


class MergedSource:
    """Merges per-symbol streams by bar close time: each ``poll`` returns every row closing at the
    next close time (ties in symbol order), with that time as watermark.

    A row that cannot be read is returned at its stream's current time; a stream going backwards
    (an out-of-order row) is returned as soon as it is at the head, and the validator refuses it.
    """

    historical = True

    def __init__(self, label: str, streams: Sequence[SymbolStream]) -> None:
        self.label = label
        self._streams = sorted(streams, key=lambda s: s.symbol)
        self._heap: list[tuple[datetime, int, SourceItem]] = []
        self._last_key: dict[int, datetime] = {}
        self._started = False
        self._done = False
        self._watermark: datetime | None = None

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({s.symbol for s in self._streams}))

    def total_rows(self) -> int | None:
        counts = [s.total_rows for s in self._streams]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for index in range(len(self._streams)):
            self._pull(index)

    def close(self) -> None:
        self._heap.clear()
        self._done = True

    def poll(self) -> Batch | None:
        if not self._started:
            self.start()
        if not self._heap:
            self._done = True
            return None
        key = self._heap[0][0]
        items: list[SourceItem] = []
        while self._heap and self._heap[0][0] == key:
            _, index, item = heapq.heappop(self._heap)
            items.append(item)
            if not isinstance(item, SymbolEnd):
                self._pull(index)
        watermark = key if self._watermark is None or key > self._watermark else self._watermark
        self._watermark = watermark
        return Batch(tuple(items), watermark)

    def _pull(self, index: int) -> None:
        stream = self._streams[index]
        item = next(stream.rows, None)
        last = self._last_key.get(index, _EARLIEST)
        if item is None:
            # An end sorts with the stream's last rows, so its unfinished bar is dropped promptly.
            heapq.heappush(self._heap, (last, index, SymbolEnd(stream.symbol)))
            return
        if isinstance(item, RawRow):
            last = self._last_key[index] = item.close_time
        heapq.heappush(self._heap, (last, index, item))


# Where a stream's unreadable rows sort before its first readable one.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
