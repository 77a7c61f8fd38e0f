"""Column layouts of bar files and the parsing of their cells into :class:`RawRow`.

Recognised, case-insensitively and ignoring ``<>``, spaces and ``_``:

- one time column: ``ts``, ``timestamp``, ``datetime``, ``open_time``, ``t``, ``date`` or ``time``;
  or a ``date`` column plus a ``time`` column (Stooq, Finam, MetaStock exports);
- time values: ISO-8601 (``Z``/offsets; naive values are read in ``naive_tz``), ``YYYY-MM-DD``,
  ``YYYYMMDD`` (+ ``HHMMSS``/``HHMM``), ``MM/DD/YYYY``, epoch seconds, milliseconds, microseconds
  or nanoseconds (told apart by magnitude), and native timestamps of Parquet/Arrow files;
- ``open/o``, ``high/h``, ``low/l``, ``close/c/last``, ``volume/vol/v`` (volume optional: 0);
- an optional ``symbol/ticker/s/pair`` column for files holding many symbols.

The time is a bar's open unless the source is configured ``timestamp_is = close``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from ridgeline_ingest.rows import BadRow, RawRow, Reason

_TIME = ("ts", "timestamp", "datetime", "opentime", "time_stamp", "t", "date", "time")
_OPEN = ("open", "o", "openprice")
_HIGH = ("high", "h", "highprice")
_LOW = ("low", "l", "lowprice")
_CLOSE = ("close", "c", "closeprice", "last")
_VOLUME = ("volume", "vol", "v", "basevolume")
_SYMBOL = ("symbol", "ticker", "s", "pair", "instrument")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _norm(name: str) -> str:
    return name.strip().lower().replace("<", "").replace(">", "").replace(" ", "").replace("_", "")


@dataclass(frozen=True, slots=True)
class Layout:
    time: int | None
    date: int | None
    clock: int | None
    open: int
    high: int
    low: int
    close: int
    volume: int | None
    symbol: int | None

    @classmethod
    def detect(cls, header: Sequence[str]) -> Layout:
        names = [_norm(h) for h in header]

        def find(options: Sequence[str]) -> int | None:
            for option in options:
                if option in names:
                    return names.index(option)
            return None

        missing = [
            n
            for n, o in (("open", _OPEN), ("high", _HIGH), ("low", _LOW), ("close", _CLOSE))
            if find(o) is None
        ]
        time_col = find(_TIME[:6])
        date_col = clock_col = None
        if time_col is None:
            if "date" in names and "time" in names:
                date_col, clock_col = names.index("date"), names.index("time")
            else:
                time_col = find(("date", "time"))
        if time_col is None and date_col is None:
            missing.insert(0, "timestamp")
        if missing:
            raise ValueError(f"no {', '.join(missing)} column among {list(header)}")
        return cls(
            time=time_col,
            date=date_col,
            clock=clock_col,
            open=find(_OPEN),  # type: ignore[arg-type]
            high=find(_HIGH),  # type: ignore[arg-type]
            low=find(_LOW),  # type: ignore[arg-type]
            close=find(_CLOSE),  # type: ignore[arg-type]
            volume=find(_VOLUME),
            symbol=find(_SYMBOL),
        )


class TimeParser:
    """Cell -> aware UTC datetime. Raises ValueError on anything it cannot read unambiguously."""

    def __init__(self, naive_tz: tzinfo = UTC) -> None:
        self.naive_tz = naive_tz

    def _aware(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.naive_tz)
        return value.astimezone(UTC)

    def parse(self, value: Any) -> datetime:
        if isinstance(value, str) and len(value) >= 10 and value[4] == "-":  # ISO-8601, the common case
            try:
                return self._aware(datetime.fromisoformat(value.strip()))
            except ValueError:
                pass
        if isinstance(value, datetime):
            return self._aware(value)
        if isinstance(value, date):
            return self._aware(datetime(value.year, value.month, value.day))
        if isinstance(value, bool):
            raise ValueError(f"not a time: {value!r}")
        if isinstance(value, int | float):
            return _epoch(value)
        if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
            return self._aware(value.to_pydatetime())
        text = str(value).strip()
        if not text:
            raise ValueError("empty time")
        if text.isdigit():
            if len(text) == 8 and "19000101" <= text <= "22001231":
                return self._aware(datetime.strptime(text, "%Y%m%d"))
            return _epoch(int(text))
        if text[0].isdigit() and text.replace(".", "", 1).isdigit():
            return _epoch(float(text))
        try:
            return self._aware(datetime.fromisoformat(text))
        except ValueError:
            pass
        for fmt in ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y%m%d %H%M%S", "%Y%m%d %H%M"):
            try:
                return self._aware(datetime.strptime(text, fmt))
            except ValueError:
                continue
        raise ValueError(f"unreadable time {text!r}")

    def parse_pair(self, day: Any, clock: Any) -> datetime:
        """A date cell and a time-of-day cell, read together in ``naive_tz``."""
        return self._aware(datetime.combine(_day(day), _clock(clock)))


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text.isdigit() and len(text) == 8:
        return datetime.strptime(text, "%Y%m%d").date()
    if "/" in text:
        return datetime.strptime(text, "%m/%d/%Y").date()
    return date.fromisoformat(text)


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, timedelta):
        return (datetime.min + value).time()
    text = str(value).strip()
    if text.isdigit():
        text = text.zfill(6 if len(text) > 4 else 4)
        return time(int(text[:2]), int(text[2:4]), int(text[4:6]) if len(text) == 6 else 0)
    return time.fromisoformat(text)


def _epoch(value: float) -> datetime:
    magnitude = abs(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite epoch time")
    if magnitude < 1e11:
        return _EPOCH + timedelta(seconds=value)
    if magnitude < 1e14:
        return _EPOCH + timedelta(milliseconds=value)
    if magnitude < 1e17:
        return _EPOCH + timedelta(microseconds=value)
    return _EPOCH + timedelta(microseconds=value / 1000)


def _number(value: Any) -> float:
    if isinstance(value, str):  # the CSV case: float() reads surrounding blanks, refuses ''
        return float(value)
    if value is None or isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RowSpec:
    """How one file's records become rows."""

    layout: Layout
    parser: TimeParser
    interval_minutes: int
    timestamp_is_close: bool = False


def parse_record(spec: RowSpec, cells: Sequence[Any], symbol: str, origin: str) -> RawRow | BadRow:
    layout = spec.layout
    try:
        if layout.time is not None:
            stamp = spec.parser.parse(cells[layout.time])
        else:
            stamp = spec.parser.parse_pair(cells[layout.date], cells[layout.clock])  # type: ignore[index]
        o = _number(cells[layout.open])
        h = _number(cells[layout.high])
        lo = _number(cells[layout.low])
        c = _number(cells[layout.close])
        v = 0.0 if layout.volume is None else _number(cells[layout.volume])
    except (ValueError, IndexError, TypeError, OverflowError) as exc:
        return BadRow(symbol, Reason.UNPARSEABLE, str(exc)[:200], origin)
    if spec.timestamp_is_close:
        stamp -= timedelta(minutes=spec.interval_minutes)
    return RawRow(symbol, stamp, o, h, lo, c, v, spec.interval_minutes, None, origin)


def row_symbol(layout: Layout, cells: Sequence[Any], default: str) -> str:
    if layout.symbol is None:
        return default
    try:
        value = cells[layout.symbol]
    except IndexError:
        return default
    return str(value).strip() if value is not None else default


def infer_interval_minutes(times: Iterable[datetime]) -> int | None:
    """The most common positive spacing of the first timestamps, in whole minutes (daily files
    with weekends still give 1440)."""
    counts: dict[int, int] = {}
    previous: datetime | None = None
    for stamp in times:
        if previous is not None and stamp > previous:
            minutes, rest = divmod(stamp - previous, timedelta(minutes=1))
            if not rest and minutes > 0:
                counts[minutes] = counts.get(minutes, 0) + 1
        previous = stamp
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: (kv[1], -kv[0]))[0]


def sample_times(rows: Iterator[RawRow | BadRow], limit: int = 256) -> list[datetime]:
    out = []
    for item in rows:
        if isinstance(item, RawRow):
            out.append(item.open_time)
            if len(out) >= limit:
                break
    return out
