"""Aggregate one symbol's source bars into bars of the running interval.

OHLCV aggregate as first open, max high, min low, last close, summed volume. A bar is complete
(and only then handed on) when

- its last source bar arrived (that source bar closes at the bar's end), or
- a source bar of a later bar arrived, or the clock passed its end (``advance``): time moved on,
  so the bars still missing inside it had no trades, exactly as a venue builds its own bars.

A bar whose source ended before it was complete is dropped (:meth:`Resampler.finish`), never
published as if it were complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ridgeline_ingest.calendar import TradingCalendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.rows import RawRow


@dataclass(slots=True)
class Aggregate:
    """A running-interval bar being built (mutable while open)."""

    symbol: str
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    # Close time of the latest source bar in it: the bar is complete when this reaches ``end``.
    last_close: datetime
    count: int
    received_at: datetime | None

    @classmethod
    def first(cls, row: RawRow, start: datetime, end: datetime) -> Aggregate:
        return cls(
            row.symbol,
            start,
            end,
            row.open,
            row.high,
            row.low,
            row.close,
            row.volume,
            row.close_time,
            1,
            row.received_at,
        )

    def add(self, row: RawRow) -> None:
        self.high = max(self.high, row.high)
        self.low = min(self.low, row.low)
        self.close = row.close
        self.volume += row.volume
        self.last_close = row.close_time
        self.count += 1
        if row.received_at is not None:
            self.received_at = row.received_at


class Resampler:
    """One symbol's open bar. Rows must come validated: in time order, inside ``[start, end)``."""

    __slots__ = ("closed_until", "current", "partial_dropped")

    def __init__(self) -> None:
        self.current: Aggregate | None = None
        # End of the last bar handed on: a row for an earlier bar is late.
        self.closed_until: datetime | None = None
        self.partial_dropped = 0

    @property
    def progress(self) -> datetime | None:
        """No bar closing at or before this instant can still come out of this resampler."""
        if self.current is not None:
            return self.current.start
        return self.closed_until

    def add(self, row: RawRow, start: datetime, end: datetime) -> list[Aggregate]:
        done: list[Aggregate] = []
        current = self.current
        if current is not None and current.start != start:
            done.append(self._close())
            current = None
        if current is None:
            current = self.current = Aggregate.first(row, start, end)
        else:
            current.add(row)
        if current.last_close >= current.end:
            done.append(self._close())
        return done

    def advance(self, watermark: datetime) -> list[Aggregate]:
        """Every source bar closing at or before ``watermark`` has been seen."""
        if self.current is not None and self.current.end <= watermark:
            return [self._close()]
        return []

    def finish(self) -> None:
        """The source ended: an unfinished bar is dropped, never published as complete."""
        if self.current is not None:
            self.current = None
            self.partial_dropped += 1

    def _close(self) -> Aggregate:
        assert self.current is not None
        done, self.current = self.current, None
        self.closed_until = done.end
        return done


def resample(rows: Iterable[RawRow], interval: Interval, calendar: TradingCalendar) -> list[Aggregate]:
    """Resample one symbol's valid, time-ordered rows in one go (offline use and tests); the
    unfinished last bar, if any, is dropped."""
    resampler = Resampler()
    out: list[Aggregate] = []
    for row in rows:
        bounds = calendar.bucket(row.open_time, interval)
        if bounds is None:
            raise ValueError(f"{row.origin or row.open_time}: outside {calendar.name} sessions")
        out.extend(resampler.add(row, *bounds))
    resampler.finish()
    return out
