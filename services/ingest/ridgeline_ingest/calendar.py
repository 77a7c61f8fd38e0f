"""Trading calendars: which instants are in a session, where bars of an interval start and end,
how many bars a gap really misses, and which trading day (session) an event time belongs to.

Equities follow an exchange calendar (``exchange_calendars``: sessions, holidays, half days);
crypto trades 24/7 and its "session" is the UTC day. Other services (risk's daily PnL reset, the
predictor's ``1d`` horizon) should use :meth:`TradingCalendar.session_of` from here so every
service agrees on what a day is.
"""

from __future__ import annotations

import bisect
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import exchange_calendars as xcals

from ridgeline_ingest.interval import Interval

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
ALWAYS_OPEN_NAMES = frozenset({"24/7", "crypto", "always_open"})


class TradingCalendar(ABC):
    name: str
    # True when sessions follow each other without a break (24/7): a session boundary is then
    # not a market event (no opening gap), so bar-to-bar checks treat it like any other bar.
    continuous: bool
    regular_session_minutes: int

    @abstractmethod
    def session_of(self, event_time: datetime) -> date:
        """The session (trading day) an event time belongs to.

        Event times are bar closes, so an instant exactly on a session boundary belongs to the
        session that just ended; an instant between sessions belongs to the last one that opened
        (a daily reset therefore happens at each session's open).
        """

    @abstractmethod
    def session_bounds(self, session: date) -> tuple[datetime, datetime] | None:
        """(open, close) of a session, None when the day is not a session (weekend, holiday)."""

    @abstractmethod
    def bucket(self, open_time: datetime, interval: Interval) -> tuple[datetime, datetime] | None:
        """Start and end of the running-interval bar that contains ``open_time``; None outside
        sessions. Intraday bars are anchored at the session open and cut at its close."""

    @abstractmethod
    def slots_between(self, start: datetime, end: datetime, interval: Interval) -> int:
        """Bars of ``interval`` that start in [start, end) during sessions: the bars a gap misses
        between a bar closing at ``start`` and the next one opening at ``end``."""

    @abstractmethod
    def check_interval(self, interval: Interval) -> None:
        """Raise ValueError when the interval cannot tile every session into whole bars."""

    def session_minutes(self, session: date) -> int:
        bounds = self.session_bounds(session)
        if bounds is None:
            raise ValueError(f"{session} is not a {self.name} session")
        return int((bounds[1] - bounds[0]) / timedelta(minutes=1))

    def bars_in_session(self, session: date, interval: Interval) -> int:
        """Bars of ``interval`` in one session (a ``1d`` horizon in bars, half days included)."""
        if interval.daily:
            return 1
        return -(-self.session_minutes(session) // interval.minutes)


class AlwaysOpenCalendar(TradingCalendar):
    """24/7 markets: every UTC day is a session of 1440 minutes."""

    continuous = True
    regular_session_minutes = 1440

    def __init__(self, name: str = "24/7") -> None:
        self.name = name

    def session_of(self, event_time: datetime) -> date:
        return (event_time.astimezone(UTC) - _TICK).date()

    def session_bounds(self, session: date) -> tuple[datetime, datetime]:
        start = datetime(session.year, session.month, session.day, tzinfo=UTC)
        return start, start + timedelta(days=1)

    def bucket(self, open_time: datetime, interval: Interval) -> tuple[datetime, datetime]:
        step = interval.delta
        start = EPOCH + ((open_time - EPOCH) // step) * step
        return start, start + step

    def slots_between(self, start: datetime, end: datetime, interval: Interval) -> int:
        return max(0, (end - start) // interval.delta)

    def check_interval(self, interval: Interval) -> None:
        if 1440 % interval.minutes:
            raise ValueError(f"interval {interval.spec} does not divide a 24h session")


class ExchangeCalendar(TradingCalendar):
    """An exchange's sessions from ``exchange_calendars`` (e.g. XNYS: 09:30-16:00 New York, 13:00
    on half days, closed on holidays)."""

    continuous = False

    def __init__(self, name: str, start: date | None = None) -> None:
        with warnings.catch_warnings():  # pandas deprecation noise from inside exchange_calendars
            warnings.simplefilter("ignore")
            cal = xcals.get_calendar(name, start=start) if start else xcals.get_calendar(name)
            self._labels: list[date] = [ts.date() for ts in cal.sessions]
            self._opens: list[datetime] = [ts.to_pydatetime() for ts in cal.opens]
            self._closes: list[datetime] = [ts.to_pydatetime() for ts in cal.closes]
        self.name = name
        self._index = {label: i for i, label in enumerate(self._labels)}
        lengths = Counter(
            int((c - o) / timedelta(minutes=1)) for o, c in zip(self._opens, self._closes, strict=True)
        )
        self._lengths = frozenset(lengths)
        self.regular_session_minutes = lengths.most_common(1)[0][0]

    def _containing(self, instant: datetime) -> int | None:
        i = bisect.bisect_right(self._opens, instant) - 1
        if i < 0 or instant >= self._closes[i]:
            return None
        return i

    def session_of(self, event_time: datetime) -> date:
        i = bisect.bisect_left(self._opens, event_time) - 1
        if i < 0:
            raise ValueError(f"{event_time.isoformat()} is before the first {self.name} session")
        return self._labels[i]

    def session_bounds(self, session: date) -> tuple[datetime, datetime] | None:
        i = self._index.get(session)
        return None if i is None else (self._opens[i], self._closes[i])

    def bucket(self, open_time: datetime, interval: Interval) -> tuple[datetime, datetime] | None:
        i = self._containing(open_time)
        if i is None:
            return None
        session_open, session_close = self._opens[i], self._closes[i]
        if interval.daily:
            return session_open, session_close
        step = interval.delta
        start = session_open + ((open_time - session_open) // step) * step
        return start, min(start + step, session_close)

    def slots_between(self, start: datetime, end: datetime, interval: Interval) -> int:
        count = 0
        step = interval.delta
        j = bisect.bisect_right(self._closes, start)
        while j < len(self._opens) and self._opens[j] < end:
            o, c = self._opens[j], self._closes[j]
            if interval.daily:
                count += int(start <= o and c <= end)
            else:
                lo, hi = max(start, o), min(end, c)
                if hi > lo:
                    count += -(-(hi - o) // step) - -(-(lo - o) // step)
            j += 1
        return count

    def check_interval(self, interval: Interval) -> None:
        if interval.daily:
            return
        bad = sorted(n for n in self._lengths if n % interval.minutes)
        if bad:
            raise ValueError(
                f"interval {interval.spec} does not tile {self.name} sessions of {bad} minutes into "
                "whole bars; choose an interval that divides every session length "
                f"({sorted(self._lengths)})"
            )


@lru_cache(maxsize=8)
def get_calendar(name: str, start: date | None = None) -> TradingCalendar:
    """``24/7`` (alias ``crypto``) or an ``exchange_calendars`` code such as ``XNYS``."""
    if name in ALWAYS_OPEN_NAMES:
        return AlwaysOpenCalendar(name)
    try:
        return ExchangeCalendar(name, start)
    except Exception as exc:  # exchange_calendars raises its own error types for unknown names
        raise ValueError(f"unknown trading calendar {name!r}: {exc}") from None
