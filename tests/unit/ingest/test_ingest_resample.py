"""Resampling finer bars to the running interval, against hand-computed bars and the venue's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import real_rows, with_

from ridgeline_ingest.calendar import get_calendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.pipeline import Ingestor, validate_rows
from ridgeline_ingest.resample import Resampler, resample

pytestmark = pytest.mark.unit

CRYPTO = get_calendar("24/7")
FIVE = Interval.parse("5m")


def test_hand_computed_5m_bar_from_real_1m_rows() -> None:
    # XRPETH 2019-10-11 00:00..00:04 (the 00:03 minute had no trades, so no row):
    #   00:00 o=0.00141342 h=0.00141557 l=0.00141266 c=0.00141418 v=1482
    #   00:01 o=0.00141597 h=0.00141658 l=0.00141597 c=0.00141658 v=522
    #   00:02 o=0.00141438 h=0.0014158  l=0.00141438 c=0.0014158  v=163
    #   00:04 o=0.00141266 h=0.00141266 l=0.00141192 c=0.00141192 v=1311
    # -> open = first open, high = max, low = min, close = last close, volume = sum.
    rows = real_rows("XRPETH_1m", 4)
    assert [r.open_time.minute for r in rows] == [0, 1, 2, 4]
    (bar,) = resample(rows, FIVE, CRYPTO)
    assert bar.start == datetime(2019, 10, 11, 0, 0, tzinfo=UTC)
    assert bar.end == datetime(2019, 10, 11, 0, 5, tzinfo=UTC)
    assert bar.open == 0.00141342
    assert bar.high == 0.00141658
    assert bar.low == 0.00141192
    assert bar.close == 0.00141192
    assert bar.volume == 1482 + 522 + 163 + 1311
    assert bar.count == 4
    # ... which is the venue's own 5m bar of that period.
    venue = real_rows("XRPETH_5m", 1)[0]
    assert (venue.open, venue.high, venue.low, venue.close, venue.volume) == (
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
    )


def test_all_1m_rows_resample_to_the_venues_5m_bars() -> None:
    result = validate_rows(real_rows("XRPETH_1m"), FIVE, CRYPTO)
    venue = real_rows("XRPETH_5m")
    assert result.rejected == {}
    assert result.partial_dropped == 0
    assert len(result.bars) == len(venue) == 706
    for bar, row in zip(result.bars, venue, strict=True):
        assert bar.open_time == row.open_time
        assert bar.event_time == row.open_time + timedelta(minutes=5)
        assert (bar.open, bar.high, bar.low, bar.close) == (row.open, row.high, row.low, row.close)
        assert bar.volume == pytest.approx(row.volume, rel=1e-12)
    # The 6 missing 5m bars of the venue are gaps of the resampled series too.
    assert [b.gap_bars for b in result.bars if b.gap_bars] == [1] * 6


def test_hand_computed_15m_bar_from_real_5m_rows() -> None:
    rows = real_rows("ETHBTC_5m", 7)  # 04:55 (alone in its 15m bar), then 05:00..05:25
    result = validate_rows(rows, Interval.parse("15m"), CRYPTO)
    # 04:45-05:00 lacks its first two 5m bars but its last one arrived: complete, published.
    # 05:00-05:15 from rows 1..3; 05:15-05:30 from rows 4..6.
    assert [b.open_time.strftime("%H:%M") for b in result.bars] == ["04:45", "05:00", "05:15"]
    b = result.bars[1]
    r1, r2, r3 = rows[1], rows[2], rows[3]
    assert b.open == r1.open == 0.09946999000000001
    assert b.high == max(r1.high, r2.high, r3.high) == 0.10072981
    assert b.low == min(r1.low, r2.low, r3.low) == 0.0988
    assert b.close == r3.close == 0.09900001
    assert b.volume == pytest.approx(2527.92100293 + 3653.02612961 + 1627.59350529, rel=1e-15)
    assert b.event_time == datetime(2018, 1, 10, 5, 15, tzinfo=UTC)


def test_a_partial_bar_is_never_published_as_complete() -> None:
    rows = real_rows("XRPETH_1m", 8)  # the 00:05 bar gets 00:05, 00:07, 00:09; 00:10 starts the next
    assert [r.open_time.minute for r in rows] == [0, 1, 2, 4, 5, 7, 9, 10]
    ingestor = Ingestor(FIVE, CRYPTO)
    ingestor.push_all(rows[:6])  # up to 00:08: the 00:05-00:10 bar is open
    ticks = ingestor.advance(rows[5].close_time)  # watermark 00:08
    assert [t.event_time.minute for t in ticks] == [5]
    ingestor.push(rows[6])  # 00:09 closes at 00:10: the bar is complete
    (tick,) = ingestor.advance(rows[6].close_time)
    assert tick.event_time.minute == 10
    assert tick.bars[0].volume == pytest.approx(sum(r.volume for r in rows[4:7]))
    ingestor.push(rows[7])  # 00:10 alone: its source ends here
    assert ingestor.finish() == []  # dropped, never published
    assert ingestor.stats["XRPETH"].partial_dropped == 1


def test_a_bar_missing_its_last_minute_closes_when_time_moves_on() -> None:
    rows = real_rows("XRPETH_1m", 12)
    # 00:10..00:15 bar: rows at 00:10, 00:11, 00:12, 00:13 (00:14 traded nothing).
    resampler = Resampler()
    bounds = [CRYPTO.bucket(r.open_time, FIVE) for r in rows]
    done = []
    for row, b in zip(rows, bounds, strict=True):
        assert b is not None
        if b[0].minute == 15:
            break
        done.extend(resampler.add(row, *b))
    assert resampler.current is not None
    assert resampler.current.start.minute == 10
    assert resampler.advance(datetime(2019, 10, 11, 0, 14, 59, tzinfo=UTC)) == []  # not yet
    (closed,) = resampler.advance(datetime(2019, 10, 11, 0, 15, tzinfo=UTC))  # the clock passed its end
    assert closed.start.minute == 10
    assert closed.last_close < closed.end


def test_resampling_across_a_gap_leaves_the_missing_bar_missing() -> None:
    rows = real_rows("TRXBTC_5m")
    result = validate_rows(rows, Interval.parse("10m"), CRYPTO)
    assert result.rejected == {}
    # The last row (04:50) starts a 10m bar the file never finishes: dropped, not published.
    assert result.partial_dropped == 1
    total_volume = sum(r.volume for r in rows[:-1])
    assert sum(b.volume for b in result.bars) == pytest.approx(total_volume, rel=1e-9)
    # Every 10m bar starts on a 10-minute boundary and spans one interval.
    assert all(b.open_time.minute % 10 == 0 for b in result.bars)
    assert all(b.event_time - b.open_time == timedelta(minutes=10) for b in result.bars)


def test_daily_bars_on_an_exchange_calendar_follow_sessions_and_half_days() -> None:
    xnys = get_calendar("XNYS")
    prices = real_rows("ETHBTC_5m", 500)
    # Stamp real 5m prices onto 2024-07-03 (half day: 13:30-17:00 UTC) and 2024-07-05.
    step = timedelta(minutes=5)
    open1, open2 = datetime(2024, 7, 3, 13, 30, tzinfo=UTC), datetime(2024, 7, 5, 13, 30, tzinfo=UTC)
    day1 = [with_(p, symbol="SPY", open_time=open1 + i * step) for i, p in enumerate(prices[:42])]
    day2 = [with_(p, symbol="SPY", open_time=open2 + i * step) for i, p in enumerate(prices[42:120])]
    result = validate_rows([*day1, *day2], Interval.parse("1d"), xnys)
    assert result.rejected == {}
    first, second = result.bars
    assert (first.open_time, first.event_time) == (
        datetime(2024, 7, 3, 13, 30, tzinfo=UTC),
        datetime(2024, 7, 3, 17, 0, tzinfo=UTC),
    )
    assert first.volume == pytest.approx(sum(r.volume for r in day1))
    assert first.high == max(r.high for r in day1)
    assert second.event_time == datetime(2024, 7, 5, 20, 0, tzinfo=UTC)
    assert second.gap_bars == 0  # Independence Day is a holiday: no session is missing
