"""Every validation rule, on real rows of the bundled data (one defect introduced per case)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import DATA, real_rows, with_

from ridgeline_ingest.calendar import get_calendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.pipeline import Ingestor, QualityConfig, validate_rows
from ridgeline_ingest.rows import BadRow, RawRow, Reason
from ridgeline_ingest.sources.files import discover

pytestmark = pytest.mark.unit

FIVE = Interval.parse("5m")
CRYPTO = get_calendar("24/7")


def run(rows: list[RawRow | BadRow], interval: Interval = FIVE, calendar_name: str = "24/7"):
    return validate_rows(rows, interval, get_calendar(calendar_name))


def test_clean_real_rows_pass_unchanged() -> None:
    rows = real_rows("ETHBTC_5m", 50)
    result = run(list(rows))
    assert result.rejected == {}
    assert len(result.bars) == 50
    first = result.bars[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        rows[0].open,
        rows[0].high,
        rows[0].low,
        rows[0].close,
        rows[0].volume,
    )
    assert first.open_time == rows[0].open_time
    assert first.event_time == rows[0].open_time + timedelta(minutes=5)  # event time = bar close
    assert first.received_at == first.event_time  # replay: received at its close
    assert first.trace_id == f"ETHBTC@{first.event_time.isoformat()}"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"high": float("nan")}, Reason.NON_FINITE),
        ({"volume": float("inf")}, Reason.NON_FINITE),
        ({"low": 0.0}, Reason.NON_POSITIVE_PRICE),
        ({"open": -0.09946999}, Reason.NON_POSITIVE_PRICE),
        ({"high": 2e12}, Reason.OUT_OF_RANGE),
        ({"high": 0.0994}, Reason.OHLC_INCONSISTENT),  # below open 0.09946999
        ({"low": 0.0997}, Reason.OHLC_INCONSISTENT),  # above close 0.09969
        ({"volume": -2527.92100293}, Reason.NEGATIVE_VOLUME),
    ],
)
def test_value_rules(change: dict[str, float], reason: Reason) -> None:
    rows = real_rows("ETHBTC_5m", 3)  # row 1: o=0.09946999 h=0.0997238 l=0.099 c=0.09969 v=2527.92
    rows[1] = with_(rows[1], **change)
    result = run(list(rows))
    assert result.rejected == {reason.value: 1}
    assert [b.open_time for b in result.bars] == [rows[0].open_time, rows[2].open_time]
    assert result.bars[1].gap_bars == 1  # the refused bar is a gap, not filled


def test_misaligned_rows_are_refused() -> None:
    rows = real_rows("LTCBTC_5m", 4)
    off_grid = with_(rows[1], open_time=rows[1].open_time + timedelta(minutes=2))
    result = run([rows[0], off_grid, rows[2], rows[3]])
    assert result.rejected == {"misaligned": 1}
    assert len(result.bars) == 3


def test_coarser_source_rows_cannot_make_finer_bars() -> None:
    result = run(list(real_rows("LTCBTC_5m", 3)), interval=Interval.parse("1m"))
    assert result.rejected == {"misaligned": 3}
    assert result.bars == []


def test_duplicates_dropped_first_one_wins() -> None:
    rows = real_rows("TRXBTC_5m", 4)
    duplicate = with_(rows[1], close=rows[1].close * 1.0001, high=max(rows[1].high, rows[1].close * 1.0001))
    result = run([rows[0], rows[1], duplicate, rows[2], rows[3]])
    assert result.rejected == {"duplicate": 1}
    assert [b.close for b in result.bars][1] == rows[1].close
    assert len(result.bars) == 4


def test_time_must_increase_per_symbol() -> None:
    rows = real_rows("XLMBTC_5m", 5)
    result = run([rows[0], rows[2], rows[1], rows[3], rows[4]])
    assert result.rejected == {"out_of_order": 1}
    assert [b.open_time for b in result.bars] == [r.open_time for r in (rows[0], rows[2], rows[3], rows[4])]


def test_monotonic_time_is_per_symbol_not_global() -> None:
    eth, ltc = real_rows("ETHBTC_5m", 3), real_rows("LTCBTC_5m", 3)
    result = run([*eth, *ltc])  # LTC's rows are earlier than ETH's last: fine, another symbol
    assert result.rejected == {}
    assert len(result.bars) == 6


def test_unreadable_and_bad_symbol_rows_are_counted_not_raised() -> None:
    rows = real_rows("ADABTC_5m", 3)
    bad = BadRow("ADABTC", Reason.UNPARSEABLE, "could not convert string to float: 'x'", "ADABTC_5m.csv:3")
    result = run([rows[0], bad, with_(rows[1], symbol="ADA BTC!"), rows[2]])
    assert result.rejected == {"bad_symbol": 1, "unparseable": 1}
    assert len(result.bars) == 2


def test_late_rows_after_a_published_tick_are_refused() -> None:
    rows = real_rows("ETHBTC_5m", 4)
    ingestor = Ingestor(FIVE, CRYPTO)
    ingestor.push_all(rows[:3])
    ticks = ingestor.advance(rows[2].close_time)
    for tick in ticks:
        ingestor.commit(tick)
    assert len(ticks) == 3
    other = real_rows("LTCBTC_5m", 3)[1]  # a new symbol's bar for a tick already published
    ingestor.push(other)
    ingestor.push(rows[3])
    assert ingestor.stats["LTCBTC"].rejected == {"late": 1}
    assert [t.event_time for t in ingestor.advance(rows[3].close_time)] == [rows[3].close_time]


def test_outside_session_on_an_exchange_calendar() -> None:
    # Real ETHBTC prices, stamped into a US trading day: 2024-12-24 is a half day (close 18:00
    # UTC), 2024-12-25 a holiday; 14:30 UTC is the open.
    prices = real_rows("ETHBTC_5m", 4)
    stamps = [
        datetime(2024, 12, 24, 14, 30, tzinfo=UTC),  # in session
        datetime(2024, 12, 24, 18, 0, tzinfo=UTC),  # half-day close: outside
        datetime(2024, 12, 25, 15, 0, tzinfo=UTC),  # Christmas: outside
        datetime(2024, 12, 26, 14, 30, tzinfo=UTC),  # next session's open
    ]
    rows = [with_(p, symbol="SPY", open_time=t) for p, t in zip(prices, stamps, strict=True)]
    result = run(list(rows), calendar_name="XNYS")
    assert result.rejected == {"outside_session": 2}
    assert [b.open_time for b in result.bars] == [stamps[0], stamps[3]]
    assert result.bars[1].gap_bars == 41  # 14:35 .. 17:55 of the half day are missing; the night is not


def test_gaps_of_the_real_files_are_counted_flagged_and_never_filled() -> None:
    found = discover([DATA / "ADABTC_5m.csv", DATA / "TRXBTC_5m.csv"], FIVE)
    ingestor = Ingestor(FIVE, CRYPTO)
    bars = []
    source = found.source()
    while (batch := source.poll()) is not None:
        ingestor.push_all(batch.items)
        assert batch.watermark is not None
        bars.extend(b for t in ingestor.advance(batch.watermark) for b in t.bars)
    bars.extend(b for t in ingestor.finish() for b in t.bars)
    ada = [b for b in bars if b.symbol == "ADABTC"]
    trx = [b for b in bars if b.symbol == "TRXBTC"]
    assert len(ada) == 5720  # every real bar, nothing invented
    assert len(trx) == 5754
    assert sorted(b.gap_bars for b in ada if b.gap_bars) == [1, 1, 1, 4, 33]
    assert [b.gap_bars for b in trx if b.gap_bars] == [1] * 6
    big = next(b for b in ada if b.gap_bars == 33)
    assert big.open_time == datetime(2018, 1, 15, 14, 45, tzinfo=UTC)  # 12:00 .. 14:40 missing
    for bars_of in (ada, trx):
        for previous, bar in itertools.pairwise(bars_of):
            assert (bar.open_time - previous.event_time) // timedelta(minutes=5) == bar.gap_bars


def test_outliers_are_flagged_with_a_configurable_sigma() -> None:
    rows = real_rows("XLMBTC_5m")
    strict = validate_rows(rows, FIVE, CRYPTO, QualityConfig(outlier_sigma=8.0))
    loose = validate_rows(rows, FIVE, CRYPTO, QualityConfig(outlier_sigma=30.0))
    tight = validate_rows(rows, FIVE, CRYPTO, QualityConfig(outlier_sigma=5.0))
    flagged = [b for b in strict.bars if b.outlier]
    assert len(strict.bars) == len(rows)  # flagged bars are still published
    assert 1 <= len(flagged) <= 10
    assert sum(b.outlier for b in loose.bars) == 0
    assert sum(b.outlier for b in tight.bars) > len(flagged)
    # The largest one-bar move of the file is among them.
    moves = [abs(b.close / a.close - 1) for a, b in zip(strict.bars, strict.bars[1:], strict=False)]
    biggest = strict.bars[1 + moves.index(max(moves))]
    assert biggest.outlier


def test_an_injected_price_spike_is_flagged_and_does_not_hide_the_next() -> None:
    rows = real_rows("ETHBTC_5m", 200)
    spiked = list(rows)
    for i in (120, 150):
        r = rows[i]
        spiked[i] = with_(r, high=r.close * 1.2, close=r.close * 1.2)
        spiked[i + 1] = with_(rows[i + 1], open=r.close * 1.2, high=max(rows[i + 1].high, r.close * 1.2))
    result = validate_rows(spiked, FIVE, CRYPTO, QualityConfig(outlier_sigma=8.0))
    flagged = {b.open_time for b in result.bars if b.outlier}
    assert rows[120].open_time in flagged
    assert rows[150].open_time in flagged  # winsorised window: the first spike did not inflate sigma


def test_stale_live_bars_are_counted() -> None:
    rows = real_rows("ETHBTC_5m", 3)
    late_arrival = [
        with_(r, received_at=r.close_time + timedelta(seconds=s))
        for r, s in zip(rows, (1, 300, 2), strict=True)
    ]
    ingestor = Ingestor(FIVE, CRYPTO, QualityConfig(stale_after=timedelta(seconds=120)))
    ingestor.push_all(late_arrival)
    for tick in ingestor.finish():
        ingestor.commit(tick)
    assert ingestor.stats["ETHBTC"].stale_bars == 1
    assert ingestor.stats["ETHBTC"].bars == 3
