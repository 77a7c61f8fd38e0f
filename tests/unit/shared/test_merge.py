"""The tick merger decides processing order; these pin down its rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import ModelPrediction, Predictions, Watermark
from ridgeline_shared.runtime.merge import LateEntryError, TickMerger
from ridgeline_shared.runtime.service import Input

pytestmark = pytest.mark.unit
T0 = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)


def t(i: int) -> datetime:
    return T0 + timedelta(minutes=5 * i)


def msg(i: int, symbol: str = "A") -> Predictions:
    entry = ModelPrediction(
        horizon="5m", family="x", model_version="1", raw=0, zscore=None, ic=0, freshness=1, capacity=1,
        stability=1, confidence=0, score=0, warming_up=True,
    )  # fmt: skip
    return Predictions(
        event_time=t(i), trace_id=f"{symbol}{i}", symbol=symbol, interval="5m", close=1, entries=[entry]
    )


def wm(i: int, eod: bool = False) -> Watermark:
    return Watermark(event_time=t(i), trace_id=f"wm{i}", producer="p", end_of_data=eod)


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.n}-0"


def test_tick_waits_for_every_primary_watermark() -> None:
    ids = Ids()
    merger = TickMerger([Input(Stream.BARS), Input(Stream.PREDICTIONS)])
    merger.add(Stream.PREDICTIONS, ids(), msg(1))
    merger.add(Stream.PREDICTIONS, ids(), wm(1))
    assert merger.next_tick() is None  # bars has not closed tick 1
    merger.add(Stream.BARS, ids(), wm(1))
    tick = merger.next_tick()
    assert tick is not None and tick.event_time == t(1)
    assert [e.message.trace_id for e in tick.entries] == ["A1"]
    assert tick.consumed[Stream.PREDICTIONS] == ["1-0", "2-0"]


def test_feedback_input_only_brings_earlier_ticks() -> None:
    ids = Ids()
    merger = TickMerger([Input(Stream.SIGNALS), Input(Stream.PREDICTIONS, lag=1)])
    merger.add(Stream.SIGNALS, ids(), wm(1))
    first = merger.next_tick()  # no previous tick: nothing to wait for on the lag-1 input
    assert first is not None and first.event_time == t(1)
    merger.add(Stream.SIGNALS, ids(), msg(2, "S"))
    merger.add(Stream.SIGNALS, ids(), wm(2))
    merger.add(Stream.PREDICTIONS, ids(), msg(1, "F"))  # feedback of tick 1
    assert merger.next_tick() is None  # its producer has not closed tick 1 yet
    merger.add(Stream.PREDICTIONS, ids(), wm(1))
    merger.add(Stream.PREDICTIONS, ids(), msg(2, "G"))  # feedback of tick 2: not for tick 2
    tick = merger.next_tick()
    assert tick is not None and [e.message.trace_id for e in tick.entries] == ["F1", "S2"]


def test_order_does_not_depend_on_arrival_order() -> None:
    def run(arrivals: list[tuple[Stream, str, object]]) -> list[str]:
        merger = TickMerger([Input(Stream.BARS), Input(Stream.PREDICTIONS)])
        for stream, entry_id, message in arrivals:
            merger.add(stream, entry_id, message)  # type: ignore[arg-type]
        tick = merger.next_tick()
        assert tick is not None
        return [e.message.trace_id for e in tick.entries]

    bars = [(Stream.BARS, "1-0", msg(1, "B")), (Stream.BARS, "2-0", wm(1))]
    preds = [(Stream.PREDICTIONS, "1-0", msg(1, "P")), (Stream.PREDICTIONS, "2-0", wm(1))]
    interleaved = [preds[0], bars[0], preds[1], bars[1]]
    assert run(bars + preds) == run(preds + bars) == run(interleaved) == ["B1", "P1"]


def test_late_entry_is_refused() -> None:
    merger = TickMerger([Input(Stream.PREDICTIONS)])
    merger.add(Stream.PREDICTIONS, "1-0", wm(2))
    with pytest.raises(LateEntryError):
        merger.add(Stream.PREDICTIONS, "2-0", msg(1))


def test_end_of_data_then_tail() -> None:
    merger = TickMerger([Input(Stream.SIGNALS), Input(Stream.PREDICTIONS, lag=1)])
    merger.add(Stream.SIGNALS, "1-0", wm(1))
    assert merger.next_tick() is not None
    merger.add(Stream.SIGNALS, "2-0", wm(1, eod=True))
    final = merger.next_tick()
    assert final is not None and final.end_of_data and final.event_time is None
    merger.add(Stream.PREDICTIONS, "1-0", msg(1, "late-feedback"))
    tail = merger.next_tick()
    assert tail is not None and [e.message.trace_id for e in tail.entries] == ["late-feedback1"]
    assert merger.next_tick() is None


def test_state_round_trip_keeps_positions() -> None:
    merger = TickMerger([Input(Stream.PREDICTIONS)])
    merger.add(Stream.PREDICTIONS, "5-0", msg(1))
    merger.add(Stream.PREDICTIONS, "6-0", wm(1))
    assert merger.next_tick() is not None
    copy = TickMerger([Input(Stream.PREDICTIONS)])
    copy.load_state(merger.state())
    assert copy.positions() == {"predictions": "6-0"} and copy.last_tick == t(1)
    with pytest.raises(LateEntryError):
        copy.add(Stream.PREDICTIONS, "7-0", msg(1))


def test_state_keeps_only_consumed_watermarks() -> None:
    """Entries read ahead are redelivered after a restart: they must not be late then."""
    primary = TickMerger([Input(Stream.SIGNALS), Input(Stream.PREDICTIONS, lag=1)])
    primary.add(Stream.SIGNALS, "1-0", wm(1))
    primary.add(Stream.PREDICTIONS, "1-0", msg(1, "F"))  # read ahead: for tick 2
    primary.add(Stream.PREDICTIONS, "2-0", wm(1))
    assert primary.next_tick() is not None  # tick 1 consumes nothing of the lag-1 input
    restarted = TickMerger([Input(Stream.SIGNALS), Input(Stream.PREDICTIONS, lag=1)])
    restarted.load_state(primary.state())
    restarted.add(Stream.PREDICTIONS, "1-0", msg(1, "F"))  # redelivered: not late
    restarted.add(Stream.PREDICTIONS, "2-0", wm(1))
    restarted.add(Stream.SIGNALS, "2-0", wm(2))
    tick = restarted.next_tick()
    assert tick is not None
    assert [e.message.trace_id for e in tick.entries] == ["F1"]


def test_a_frame_is_consumed_and_acknowledged_once_all_its_messages_are() -> None:
    merger = TickMerger([Input(Stream.PREDICTIONS)])
    late = merger.add_entry(Stream.PREDICTIONS, "5-0", [(0, msg(1, "A")), (1, msg(1, "B")), (2, wm(1))])
    assert late == []
    tick = merger.next_tick()
    assert tick is not None and [e.message.trace_id for e in tick.entries] == ["A1", "B1"]
    assert tick.consumed == {Stream.PREDICTIONS: ["5-0"]}  # one id, acknowledged once
    assert merger.positions() == {"predictions": "5-0"}
    # A redelivered frame after consumption is a new entry to the merger only if not yet seen;
    # while buffered it is ignored.
    merger.add_entry(Stream.PREDICTIONS, "6-0", [(0, msg(2)), (1, wm(2))])
    assert merger.add_entry(Stream.PREDICTIONS, "6-0", [(0, msg(2)), (1, wm(2))]) == []
    tick = merger.next_tick()
    assert tick is not None and len(tick.entries) == 1 and tick.consumed == {Stream.PREDICTIONS: ["6-0"]}


def test_a_frame_s_late_message_is_refused_alone() -> None:
    merger = TickMerger([Input(Stream.PREDICTIONS)])
    merger.add_entry(Stream.PREDICTIONS, "1-0", [(0, msg(1)), (1, wm(1))])
    assert merger.next_tick() is not None
    late = merger.add_entry(Stream.PREDICTIONS, "2-0", [(0, msg(1, "OLD")), (1, msg(2, "NEW")), (2, wm(2))])
    assert [index for index, _ in late] == [0]
    tick = merger.next_tick()
    assert tick is not None and [e.message.trace_id for e in tick.entries] == ["NEW2"]
    assert tick.consumed == {Stream.PREDICTIONS: ["2-0"]}


def test_frame_messages_keep_their_order_within_and_across_entries() -> None:
    merger = TickMerger([Input(Stream.PREDICTIONS)])
    merger.add_entry(Stream.PREDICTIONS, "2-0", [(0, msg(1, "C")), (1, msg(1, "D"))])
    merger.add_entry(Stream.PREDICTIONS, "1-0", [(0, msg(1, "B")), (1, msg(1, "A"))])
    merger.add_entry(Stream.PREDICTIONS, "3-0", [(0, wm(1))])
    tick = merger.next_tick()
    assert tick is not None and [e.message.symbol for e in tick.entries] == ["B", "A", "C", "D"]  # type: ignore[attr-defined]
    assert tick.consumed == {Stream.PREDICTIONS: ["1-0", "2-0", "3-0"]}
