"""Deterministic merge of a service's input streams into event-time ticks (pure, no I/O).

Every producer closes tick T on a stream with ``Watermark(T)``; services forward the ticks they
process, so all of them see ingest's tick sequence. Tick T is ready when every lag-0 input's
watermark has reached T and every lag-1 input's has reached the previous tick. It then holds, in
this order: the lag-1 entries of earlier ticks, then the lag-0 entries up to T, each input in
declared order and each stream in stream order. Neither the order in which Redis delivered the
entries nor their timing can change what a tick holds, which is what makes a replay, a restart
and the live run produce the same outputs.

An entry may hold several messages (a frame: one producer's tick on one stream, see
:mod:`ridgeline_shared.codec`). Its messages are ordered by (entry id, position in the frame) and
the entry counts as consumed, to acknowledge and to resume from, once all of them are.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import ExecutorCommand, Message, Watermark
from ridgeline_shared.runtime.service import Input


def entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


ItemKey = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Entry:
    stream: Stream
    entry_id: str
    message: Message
    index: int = 0


class LateEntryError(ValueError):
    """An entry older than its stream's watermark: the producer broke its promise."""


@dataclass(slots=True)
class Tick:
    """A unit of work: ``event_time`` None is a tail tick after end of data."""

    event_time: datetime | None
    entries: list[Entry]
    # Every consumed entry id per stream, watermarks included: what the commit acknowledges.
    consumed: dict[Stream, list[str]]
    end_of_data: bool = False


@dataclass(slots=True)
class _Lane:
    spec: Input
    entries: list[tuple[ItemKey, Entry]] = field(default_factory=list)
    marks: list[tuple[ItemKey, str, datetime, bool]] = field(default_factory=list)
    watermark: datetime | None = None
    end_of_data: bool = False
    # What the consumed watermarks promised: the state to persist. The fields above also count
    # watermarks read ahead, which a restarted consumer will be handed again.
    consumed_watermark: datetime | None = None
    consumed_end: bool = False
    seen: set[str] = field(default_factory=set)
    # Buffered messages per entry id: an entry is consumed when its count reaches zero.
    remaining: dict[str, int] = field(default_factory=dict)
    last_consumed: str | None = None

    def consume(self, entry_id: str) -> bool:
        """Count one of ``entry_id``'s messages consumed; True when it was the last."""
        left = self.remaining.get(entry_id, 1) - 1
        if left > 0:
            self.remaining[entry_id] = left
            return False
        self.remaining.pop(entry_id, None)
        self.seen.discard(entry_id)
        return True


class TickMerger:
    def __init__(self, inputs: Sequence[Input]) -> None:
        if not inputs:
            raise ValueError("a merger needs at least one input")
        if not any(i.lag == 0 for i in inputs):
            raise ValueError("at least one input must have lag 0: it defines the ticks")
        self._lanes = {i.stream: _Lane(i) for i in inputs}
        self.last_tick: datetime | None = None
        self.finished = False
        self._urgent: list[Entry] = []

    # -- feeding -----------------------------------------------------------------------------
    def add(self, stream: Stream, entry_id: str, message: Message) -> None:
        """Buffer a one-message entry. Raises LateEntryError for a message behind its stream's
        watermark."""
        late = self.add_entry(stream, entry_id, [(0, message)])
        if late:
            raise late[0][1]

    def add_entry(
        self, stream: Stream, entry_id: str, messages: Sequence[tuple[int, Message]]
    ) -> list[tuple[int, LateEntryError]]:
        """Buffer an entry's messages (with their positions in it); return the late ones, which
        are not buffered. An entry already buffered is ignored (a redelivery)."""
        lane = self._lanes[stream]
        if entry_id in lane.seen:
            return []
        ms, seq = entry_key(entry_id)
        late: list[tuple[int, LateEntryError]] = []
        kept = 0
        for index, message in messages:
            try:
                self._add_message(lane, Entry(stream, entry_id, message, index), (ms, seq, index))
            except LateEntryError as exc:
                late.append((index, exc))
            else:
                kept += 1
        if kept:
            lane.seen.add(entry_id)
            lane.remaining[entry_id] = kept
        return late

    def _add_message(self, lane: _Lane, entry: Entry, key: ItemKey) -> None:
        message = entry.message
        if isinstance(message, ExecutorCommand) and message.immediate:
            self._urgent.append(entry)
        elif isinstance(message, Watermark):
            if lane.watermark is not None and message.event_time < lane.watermark:
                raise LateEntryError(
                    f"watermark {message.event_time.isoformat()} behind {lane.watermark.isoformat()}"
                )
            lane.watermark = message.event_time
            lane.end_of_data = lane.end_of_data or message.end_of_data
            bisect.insort(lane.marks, (key, entry.entry_id, message.event_time, message.end_of_data))
        else:
            if lane.end_of_data and lane.spec.lag == 0:
                raise LateEntryError(f"entry after end of data on {entry.stream.value}")
            if lane.watermark is not None and message.event_time <= lane.watermark:
                raise LateEntryError(
                    f"entry at {message.event_time.isoformat()} not after watermark "
                    f"{lane.watermark.isoformat()} on {entry.stream.value}"
                )
            if not lane.entries or lane.entries[-1][0] < key:
                lane.entries.append((key, entry))  # the usual case: stream order
            else:
                bisect.insort(lane.entries, (key, entry), key=lambda x: x[0])

    # -- reading -----------------------------------------------------------------------------
    def buffered(self, stream: Stream) -> int:
        return len(self._lanes[stream].entries)

    def needs(self, stream: Stream) -> bool:
        """Whether the next tick may be waiting on this stream (keep reading it even if full)."""
        lane = self._lanes[stream]
        if lane.end_of_data:
            return False
        target = self._next_time()
        if lane.spec.lag == 1:
            target = self.last_tick
        return target is None or lane.watermark is None or lane.watermark < target

    def _primary(self) -> list[_Lane]:
        return [lane for lane in self._lanes.values() if lane.spec.lag == 0]

    def _next_time(self) -> datetime | None:
        """The earliest watermark of a primary input beyond the last tick. Marks are kept in stream
        order, whose times never decrease, and consumed ones are dropped: only a lane's head is
        read, so this stays O(inputs) however deep the backlog."""
        best: datetime | None = None
        for lane in self._primary():
            for _, _, t, _ in lane.marks:
                if self.last_tick is None or t > self.last_tick:
                    best = t if best is None else min(best, t)
                    break
        return best

    def _covered(self, lane: _Lane, until: datetime | None) -> bool:
        return lane.end_of_data or until is None or (lane.watermark is not None and lane.watermark >= until)

    def next_tick(self) -> Tick | None:
        """The next ready tick, or None. Consumes what it returns.

        Operator commands marked ``immediate`` come first, alone, outside the tick sequence.
        """
        if self._urgent:
            urgent, self._urgent = self._urgent, []
            consumed: dict[Stream, list[str]] = {}
            for entry in urgent:
                if self._lanes[entry.stream].consume(entry.entry_id):
                    consumed.setdefault(entry.stream, []).append(entry.entry_id)
            return Tick(event_time=None, entries=urgent, consumed=consumed)
        primary = self._primary()
        t = self._next_time()
        if t is not None:
            if all(self._covered(lane, t) for lane in primary) and all(
                self._covered(lane, self.last_tick) for lane in self._lanes.values() if lane.spec.lag == 1
            ):
                tick = self._take(t, previous=self.last_tick)
                self.last_tick = t
                return tick
            return None
        if all(lane.end_of_data for lane in primary):
            if not self.finished:
                self.finished = True
                tick = self._take(None, previous=self.last_tick)
                tick.end_of_data = True
                return tick
            tail = self._take(None, previous=None, tail=True)
            if tail.entries or any(tail.consumed.values()):
                return tail
        return None

    def _take(self, t: datetime | None, previous: datetime | None, tail: bool = False) -> Tick:
        consumed: dict[Stream, list[str]] = {}
        ordered: list[Entry] = []
        lanes = sorted(self._lanes.values(), key=lambda lane: -lane.spec.lag)  # lag-1 first, stable
        for lane in lanes:
            if lane.spec.lag == 1:
                limit = None if tail else previous
                take_all = tail
            else:
                limit, take_all = t, t is None
            n = 0
            if take_all:
                n = len(lane.entries)
            elif limit is not None:
                while n < len(lane.entries) and lane.entries[n][1].message.event_time <= limit:
                    n += 1
            taken, lane.entries = lane.entries[:n], lane.entries[n:]
            ordered.extend(entry for _, entry in taken)
            m = 0
            while m < len(lane.marks) and (take_all or (limit is not None and lane.marks[m][2] <= limit)):
                m += 1
            marks, lane.marks = lane.marks[:m], lane.marks[m:]
            for _, _, mark_time, mark_end in marks:
                lane.consumed_watermark = max(lane.consumed_watermark or mark_time, mark_time)
                lane.consumed_end = lane.consumed_end or mark_end
            taken_ids = [entry.entry_id for _, entry in taken] + [mark_id for _, mark_id, _, _ in marks]
            ids = sorted({i for i in taken_ids if lane.consume(i)}, key=entry_key)
            if ids:
                if lane.last_consumed is None or entry_key(ids[-1]) > entry_key(lane.last_consumed):
                    lane.last_consumed = ids[-1]
                consumed[lane.spec.stream] = ids
        return Tick(event_time=t, entries=ordered, consumed=consumed)

    # -- persistence -------------------------------------------------------------------------
    def positions(self) -> dict[str, str]:
        """Per stream, the last entry consumed: every earlier entry of it has been consumed."""
        return {s.value: lane.last_consumed for s, lane in self._lanes.items() if lane.last_consumed}

    def state(self) -> dict[str, Any]:
        return {
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
            "finished": self.finished,
            "lanes": {
                s.value: {
                    "watermark": lane.consumed_watermark.isoformat() if lane.consumed_watermark else None,
                    "end_of_data": lane.consumed_end,
                    "last_consumed": lane.last_consumed,
                }
                for s, lane in self._lanes.items()
            },
        }

    def load_state(self, data: dict[str, Any]) -> None:
        self.last_tick = datetime.fromisoformat(data["last_tick"]) if data["last_tick"] else None
        self.finished = bool(data["finished"])
        for name, raw in data["lanes"].items():
            lane = self._lanes.get(Stream(name))
            if lane is None:
                continue
            lane.watermark = datetime.fromisoformat(raw["watermark"]) if raw["watermark"] else None
            lane.end_of_data = bool(raw["end_of_data"])
            lane.consumed_watermark, lane.consumed_end = lane.watermark, lane.end_of_data
            lane.last_consumed = raw["last_consumed"]
