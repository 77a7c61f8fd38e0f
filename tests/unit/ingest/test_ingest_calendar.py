"""Trading calendars: sessions, holidays, half days, the session of an event time, gap counting."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ridgeline_ingest.calendar import AlwaysOpenCalendar, get_calendar
from ridgeline_ingest.interval import Interval

pytestmark = pytest.mark.unit

XNYS = get_calendar("XNYS")
CRYPTO = get_calendar("24/7")
FIVE = Interval.parse("5m")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_xnys_sessions_holidays_and_half_days() -> None:
    assert XNYS.session_bounds(date(2024, 7, 5)) == (utc(2024, 7, 5, 13, 30), utc(2024, 7, 5, 20, 0))
    assert XNYS.session_bounds(date(2024, 7, 3)) == (
        utc(2024, 7, 3, 13, 30),
        utc(2024, 7, 3, 17, 0),
    )  # half day
    assert XNYS.session_bounds(date(2024, 11, 29)) == (utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18, 0))
    assert XNYS.session_bounds(date(2024, 7, 4)) is None  # Independence Day
    assert XNYS.session_bounds(date(2024, 12, 25)) is None
    assert XNYS.session_bounds(date(2024, 7, 6)) is None  # Saturday
    assert XNYS.session_minutes(date(2024, 7, 3)) == 210
    assert XNYS.regular_session_minutes == 390
    assert XNYS.bars_in_session(date(2024, 7, 3), FIVE) == 42
    assert XNYS.bars_in_session(date(2024, 7, 5), FIVE) == 78


def test_session_of_an_event_time() -> None:
    # The bar closing at the 16:00 New York close belongs to that day's session.
    assert XNYS.session_of(utc(2024, 7, 5, 20, 0)) == date(2024, 7, 5)
    assert XNYS.session_of(utc(2024, 7, 5, 13, 35)) == date(2024, 7, 5)
    # Before the open, an instant still belongs to the previous session (reset at the open).
    assert XNYS.session_of(utc(2024, 7, 8, 13, 30)) == date(2024, 7, 5)
    assert XNYS.session_of(utc(2024, 7, 8, 13, 31)) == date(2024, 7, 8)
    # 24/7: the UTC day; the bar closing at midnight belongs to the day that ended.
    assert CRYPTO.session_of(utc(2018, 1, 11, 0, 0)) == date(2018, 1, 10)
    assert CRYPTO.session_of(utc(2018, 1, 11, 0, 5)) == date(2018, 1, 11)


def test_buckets_anchor_at_the_session_open() -> None:
    assert XNYS.bucket(utc(2024, 7, 5, 13, 44), Interval.parse("15m")) == (
        utc(2024, 7, 5, 13, 30),
        utc(2024, 7, 5, 13, 45),
    )
    assert XNYS.bucket(utc(2024, 7, 5, 12, 0), FIVE) is None  # pre-market
    assert XNYS.bucket(utc(2024, 7, 4, 15, 0), FIVE) is None  # holiday
    assert XNYS.bucket(utc(2024, 7, 5, 15, 0), Interval.parse("1d")) == (
        utc(2024, 7, 5, 13, 30),
        utc(2024, 7, 5, 20, 0),
    )
    assert CRYPTO.bucket(utc(2018, 1, 10, 4, 57), FIVE) == (utc(2018, 1, 10, 4, 55), utc(2018, 1, 10, 5, 0))


def test_gaps_count_only_session_bars() -> None:
    # Friday's last bar closes 20:00, Monday's first opens 13:30: no bar is missing.
    assert XNYS.slots_between(utc(2024, 7, 5, 20, 0), utc(2024, 7, 8, 13, 30), FIVE) == 0
    # Friday's last bar closes 19:50 (19:50, 19:55 missing), Monday's first opens 13:35 (13:30
    # missing): three bars.
    assert XNYS.slots_between(utc(2024, 7, 5, 19, 50), utc(2024, 7, 8, 13, 35), FIVE) == 3
    # Across the 4th of July half day + holiday: 2024-07-03 13:30-17:00 is 42 bars, 07-04 none.
    assert XNYS.slots_between(utc(2024, 7, 2, 20, 0), utc(2024, 7, 5, 13, 30), FIVE) == 42
    assert XNYS.slots_between(utc(2024, 7, 2, 20, 0), utc(2024, 7, 8, 13, 30), Interval.parse("1d")) == 2
    assert CRYPTO.slots_between(utc(2018, 1, 15, 12, 0), utc(2018, 1, 15, 14, 45), FIVE) == 33


def test_intervals_must_tile_sessions() -> None:
    XNYS.check_interval(FIVE)
    XNYS.check_interval(Interval.parse("30m"))
    XNYS.check_interval(Interval.parse("1d"))
    with pytest.raises(ValueError, match="390"):
        XNYS.check_interval(Interval.parse("1h"))  # 390 minutes are not whole hours
    with pytest.raises(ValueError, match="divide a day"):
        Interval.parse("7m")
    with pytest.raises(ValueError, match="longer than one session"):
        Interval.parse("2d")


def test_calendar_names() -> None:
    assert isinstance(get_calendar("crypto"), AlwaysOpenCalendar)
    assert get_calendar("XNYS") is XNYS  # cached
    with pytest.raises(ValueError, match="unknown trading calendar"):
        get_calendar("NOPE")
