"""What sources hand to the pipeline: raw rows, rows that could not even be read, end markers.

Rows stay plain dataclasses (not pydantic) because every bar of a replay passes through them; the
pydantic ``Bar`` is built once, after validation and resampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Reason(StrEnum):
    """Why a row was not published. Counted per symbol and reported, never raised."""

    UNPARSEABLE = "unparseable"  # a time or a number could not be read
    NON_FINITE = "non_finite"  # NaN or infinity
    NON_POSITIVE_PRICE = "non_positive_price"
    OUT_OF_RANGE = "out_of_range"  # beyond what a Bar admits (price >= 1e12, volume >= 1e18)
    OHLC_INCONSISTENT = "ohlc_inconsistent"  # high < max(open, close), low > min(open, close), low > high
    NEGATIVE_VOLUME = "negative_volume"
    MISALIGNED = "misaligned"  # not on the source interval's grid, or straddles a bar of the running interval
    OUTSIDE_SESSION = "outside_session"  # exchange calendars: a holiday, a weekend, outside hours
    DUPLICATE = "duplicate"  # same open time as the previous accepted row (the first one wins)
    OUT_OF_ORDER = "out_of_order"  # earlier than the previous accepted row of the symbol
    LATE = "late"  # its bar's tick was already published (live), so it can no longer be
    BAD_SYMBOL = "bad_symbol"
    INVALID_BAR = "invalid_bar"  # the aggregated bar failed the message schema (should not happen)


@dataclass(frozen=True, slots=True)
class RawRow:
    """One source bar as read. ``open_time`` is UTC; ``interval_minutes`` is the source bar length
    (1440 for a daily row, which an exchange calendar maps onto its session)."""

    symbol: str
    open_time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval_minutes: int
    # Wall time the row reached us (live sources); None for recorded data.
    received_at: datetime | None = None
    origin: str = ""

    @property
    def close_time(self) -> datetime:
        return self.open_time + timedelta(minutes=self.interval_minutes)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be turned into a RawRow; carries where it was and why."""

    symbol: str
    reason: Reason
    detail: str
    origin: str = ""


@dataclass(frozen=True, slots=True)
class SymbolEnd:
    """A historical source has no more rows for this symbol: its unfinished bar is dropped."""

    symbol: str


SourceItem = RawRow | BadRow | SymbolEnd


@dataclass(frozen=True, slots=True)
class Batch:
    """What one ``BarSource.poll`` returns.

    ``watermark`` is the source's promise that every row closing at or before it has now been
    returned. Historical sources set it (they read in close-time order); live sources leave it
    None and the pipeline advances on the wall clock instead.
    """

    items: tuple[SourceItem, ...]
    watermark: datetime | None = None
