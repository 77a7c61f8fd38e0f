"""Replay: ticks ordered by event time across symbols, pacing, bar limits, resuming, synthetic."""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import DATA

from ridgeline_ingest.calendar import get_calendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.pipeline import Ingestor
from ridgeline_ingest.replay import Pacer, Replay
from ridgeline_ingest.sources.files import discover
from ridgeline_ingest.sources.synthetic import SyntheticSpec, synthetic_source

pytestmark = pytest.mark.unit

CRYPTO = get_calendar("24/7")
FIVE = Interval.parse("5m")
FILES = ["ADABTC_5m", "ETHBTC_5m", "TRXBTC_5m", "XRPETH_1m"]


def replay_of(names: list[str], max_bars: int | None = None, interval: Interval = FIVE) -> Replay:
    found = discover([DATA / f"{n}.csv" for n in names], interval)
    return Replay(found.source(), Ingestor(interval, CRYPTO, source="test"), max_bars)


def all_ticks(replay: Replay) -> list:
    ticks = []
    while (tick := replay.next_tick()) is not None:
        ticks.append(tick)
    return ticks


def expected_closes(name: str, minutes: int = 5) -> set[datetime]:
    with (DATA / f"{name}.csv").open() as handle:
        return {datetime.fromisoformat(r["ts"]) + timedelta(minutes=minutes) for r in csv.DictReader(handle)}


def test_ticks_merge_symbols_by_event_time() -> None:
    replay = replay_of(FILES)
    ticks = all_ticks(replay)
    assert replay.ended_by == "end_of_data"
    times = [t.event_time for t in ticks]
    assert times == sorted(set(times))  # strictly increasing, one tick per close time
    by_symbol: dict[str, set[datetime]] = defaultdict(set)
    for tick in ticks:
        symbols = [b.symbol for b in tick.bars]
        assert symbols == sorted(set(symbols))  # sorted, one bar per symbol
        assert all(b.event_time == tick.event_time for b in tick.bars)
        for bar in tick.bars:
            by_symbol[bar.symbol].add(bar.event_time)
    # Each symbol's bars are exactly its file's bars (the 1m file resampled to the venue's 5m).
    assert by_symbol["ADABTC"] == expected_closes("ADABTC_5m")
    assert by_symbol["TRXBTC"] == expected_closes("TRXBTC_5m")
    assert by_symbol["XRPETH"] == expected_closes("XRPETH_5m")
    # Where a symbol has a gap, the tick goes ahead with the others.
    gap_tick = next(t for t in ticks if t.event_time == datetime(2018, 1, 15, 12, 5, tzinfo=UTC))
    assert [b.symbol for b in gap_tick.bars] == ["ETHBTC", "TRXBTC"]
    assert sum(len(t.bars) for t in ticks) == 5720 + 5760 + 5754 + 706


def test_replay_is_deterministic() -> None:
    first = [(t.event_time, [b.model_dump_json() for b in t.bars]) for t in all_ticks(replay_of(FILES))]
    second = [(t.event_time, [b.model_dump_json() for b in t.bars]) for t in all_ticks(replay_of(FILES))]
    assert first == second


def test_max_bars_ends_on_a_whole_tick() -> None:
    replay = replay_of(["ETHBTC_5m", "LTCBTC_5m", "XLMBTC_5m"], max_bars=100)
    ticks = all_ticks(replay)
    assert replay.ended_by == "max_bars"
    assert sum(len(t.bars) for t in ticks) == 99  # 33 ticks of 3; a 34th would exceed 100
    assert all(len(t.bars) == 3 for t in ticks)


def test_resume_after_the_last_published_tick_equals_an_uninterrupted_run() -> None:
    full = all_ticks(replay_of(FILES))
    first_part = replay_of(FILES)
    for _ in range(1234):
        first_part.next_tick()
    cursor = first_part.ingestor.last_tick
    assert cursor is not None
    resumed = replay_of(FILES)
    assert resumed.skip_through(cursor) == 1234
    rest = all_ticks(resumed)
    assert [t.event_time for t in rest] == [t.event_time for t in full[1234:]]
    assert rest[0].bars == full[1234].bars
    # Counters after resuming equal the uninterrupted run's.
    straight = replay_of(FILES)
    all_ticks(straight)
    assert {s: st.to_dict() for s, st in resumed.ingestor.stats.items()} == {
        s: st.to_dict() for s, st in straight.ingestor.stats.items()
    }


def test_progress_reports_rows_and_ticks() -> None:
    replay = replay_of(["ETHBTC_5m"])
    for _ in range(576):
        replay.next_tick()
    progress = replay.progress()
    assert progress["ticks"] == 576
    assert progress["rows_total"] == 5760
    assert 0.09 < progress["fraction"] < 0.11
    all_ticks(replay)
    assert replay.progress()["fraction"] == 1.0


def test_pacer_keeps_event_time_spacing() -> None:
    t0 = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)
    five = timedelta(minutes=5)
    asap = Pacer(0.0)
    asap.published(t0, 100.0)
    assert asap.delay(t0 + five, 100.0) == 0.0
    realtime = Pacer(1.0)
    assert realtime.delay(t0, 100.0) == 0.0  # the first tick goes at once
    realtime.published(t0, 100.0)
    assert realtime.delay(t0 + five, 100.0) == pytest.approx(300.0)
    assert realtime.delay(t0 + five, 250.0) == pytest.approx(150.0)
    fast = Pacer(60.0)
    fast.published(t0, 100.0)
    assert fast.delay(t0 + five, 100.0) == pytest.approx(5.0)
    fast.published(t0 + five, 105.0)
    assert fast.delay(t0 + 2 * five, 105.0) == pytest.approx(5.0)
    capped = Pacer(1.0, max_wait=2.0)
    capped.published(t0, 0.0)
    assert capped.delay(t0 + timedelta(days=2), 0.0) == pytest.approx(2.0)


def test_pacer_does_not_burst_after_a_pause() -> None:
    t0 = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)
    step = timedelta(seconds=10)
    pacer = Pacer(1.0)
    pacer.published(t0, 0.0)
    pacer.published(t0 + step, 10.0)
    # Paused for 100 s: the next tick is published late at 110 s ...
    pacer.published(t0 + 2 * step, 110.0)
    # ... and the one after waits its full 10 s instead of going at once.
    assert pacer.delay(t0 + 3 * step, 110.0) == pytest.approx(10.0)


def test_synthetic_source_is_seeded_and_valid() -> None:
    spec = SyntheticSpec(symbols=("SYN0", "SYN1"), bars=500, interval_minutes=5, seed=11)

    def run(s: SyntheticSpec) -> list:
        return all_ticks(Replay(synthetic_source(s), Ingestor(FIVE, CRYPTO, source="synthetic")))

    a, b = run(spec), run(spec)
    assert [t.bars for t in a] == [t.bars for t in b]
    assert len(a) == 500
    assert all(len(t.bars) == 2 for t in a)
    other = run(SyntheticSpec(symbols=("SYN0", "SYN1"), bars=500, interval_minutes=5, seed=12))
    assert [t.bars for t in other] != [t.bars for t in a]
    alone = run(SyntheticSpec(symbols=("SYN1",), bars=500, interval_minutes=5, seed=11))
    assert [t.bars[0] for t in alone] == [t.bars[1] for t in a]  # independent of the other symbols
    closes = [t.bars[0].close for t in a]
    assert closes[0] != closes[-1]
    # Opens continue the previous close (a continuous market).
    assert all(t2.bars[0].open == t1.bars[0].close for t1, t2 in itertools.pairwise(a))
