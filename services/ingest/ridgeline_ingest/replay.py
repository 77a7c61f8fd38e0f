"""Drive a source through the :class:`Ingestor`: historical replay one tick at a time (with
pacing, a bar limit and fast-forward for restarts), or a live feed advanced by the wall clock."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from ridgeline_ingest.pipeline import Ingestor, Tick
from ridgeline_ingest.sources.base import BarSource


class Pacer:
    """When a tick may be published, on a monotonic wall clock (seconds).

    ``speed`` 0 publishes as fast as the pipeline takes ticks (the backtest default; the worker's
    back-pressure bounds it); 1 keeps the event-time spacing of the data (real time); k is k times
    faster. ``max_wait`` caps the wait between two ticks (weekends and holidays in a demo). A tick
    published late (a slow consumer, a pause) re-anchors the pace if it is more than ``slack``
    seconds behind, so a pause is never followed by a burst.
    """

    def __init__(self, speed: float = 0.0, max_wait: float | None = None, slack: float = 1.0) -> None:
        self.speed = speed
        self.max_wait = max_wait
        self.slack = slack
        self._last: tuple[float, datetime] | None = None

    def _step(self, event_time: datetime, last_event: datetime) -> float:
        step = max(0.0, (event_time - last_event).total_seconds() / self.speed)
        return step if self.max_wait is None else min(step, self.max_wait)

    def delay(self, event_time: datetime, now: float) -> float:
        if self.speed <= 0 or self._last is None:
            return 0.0
        last_due, last_event = self._last
        return max(0.0, last_due + self._step(event_time, last_event) - now)

    def published(self, event_time: datetime, now: float) -> None:
        if self.speed <= 0:
            return
        if self._last is None:
            self._last = (now, event_time)
            return
        last_due, last_event = self._last
        due = last_due + self._step(event_time, last_event)
        self._last = (now if now - due > self.slack else due, event_time)

    def reset(self, speed: float | None = None) -> None:
        """Re-anchor on the next tick (after a pause or a change of speed)."""
        if speed is not None:
            self.speed = speed
        self._last = None


class Replay:
    """A historical source, one published tick at a time.

    ``max_bars`` ends the replay before the tick that would exceed it (whole ticks only). Ticks
    are deterministic functions of the data, so a restarted replay fast-forwards
    (:meth:`skip_through`) to its last committed tick and resumes without republishing.
    """

    def __init__(self, source: BarSource, ingestor: Ingestor, max_bars: int | None = None) -> None:
        self.source = source
        self.ingestor = ingestor
        self.max_bars = max_bars
        self.ticks = 0
        self.bars = 0
        self.ended_by: str | None = None  # "end_of_data" | "max_bars"
        self._ready: deque[Tick] = deque()
        self._exhausted = False
        self._total_rows = source.total_rows()
        source.start()

    def _fill(self) -> None:
        while not self._ready and not self._exhausted:
            batch = self.source.poll()
            if batch is None:
                self._ready.extend(self.ingestor.finish())
                self._exhausted = True
                self.source.close()
                break
            self.ingestor.push_all(batch.items)
            if batch.watermark is not None:
                self._ready.extend(self.ingestor.advance(batch.watermark))

    def peek(self) -> Tick | None:
        """The next tick to publish, or None when the replay has ended."""
        if self.ended_by is not None:
            return None
        self._fill()
        if not self._ready:
            self.ended_by = "end_of_data"
            return None
        tick = self._ready[0]
        if self.max_bars is not None and self.bars + len(tick.bars) > self.max_bars:
            self.ended_by = "max_bars"
            self.source.close()
            return None
        return tick

    def next_tick(self) -> Tick | None:
        tick = self.peek()
        if tick is None:
            return None
        self._ready.popleft()
        self.ingestor.commit(tick)
        self.ticks += 1
        self.bars += len(tick.bars)
        return tick

    def skip_through(self, event_time: datetime) -> int:
        """Consume (without returning) every tick at or before ``event_time``."""
        skipped = 0
        while (tick := self.peek()) is not None and tick.event_time <= event_time:
            self.next_tick()
            skipped += 1
        return skipped

    def progress(self) -> dict[str, Any]:
        rows = sum(s.rows for s in self.ingestor.stats.values())
        total = self._total_rows
        last = self.ingestor.last_tick
        return {
            "ticks": self.ticks,
            "bars": self.bars,
            "rows_read": rows,
            "rows_total": total,
            "fraction": 1.0 if self.ended_by else (round(rows / total, 4) if total else None),
            "last_event_time": None if last is None else last.isoformat(),
            "ended_by": self.ended_by,
        }


class LiveFeed:
    """A live source: rows are pushed as they arrive; a tick is published as soon as every
    subscribed symbol is past it, or once the wall clock is ``grace`` past its close (a symbol
    without trades in a minute gets no bar from the provider)."""

    def __init__(self, source: BarSource, ingestor: Ingestor, grace: timedelta) -> None:
        self.source = source
        self.ingestor = ingestor
        self.grace = grace
        self.ticks = 0
        self.bars = 0
        self._ready: deque[Tick] = deque()
        source.start()

    def next_tick(self, now: datetime) -> Tick | None:
        if not self._ready:
            batch = self.source.poll()
            if batch is not None and batch.items:
                self.ingestor.push_all(batch.items)
            self._ready.extend(self.ingestor.complete_ticks())
            self._ready.extend(self.ingestor.advance(now - self.grace))
        if not self._ready:
            return None
        tick = self._ready.popleft()
        self.ingestor.commit(tick)
        self.ticks += 1
        self.bars += len(tick.bars)
        return tick

    def stale_symbols(self, now: datetime, stale_after: timedelta, since: datetime) -> list[str]:
        """Subscribed symbols whose last bar closed (or, without any bar yet, whose feed started)
        longer ago than one interval plus ``stale_after``: a provider that went quiet."""
        limit = self.ingestor.interval.delta + stale_after
        out = []
        for symbol in self.source.symbols():
            stats = self.ingestor.stats.get(symbol)
            last = since if stats is None or stats.last_event_time is None else stats.last_event_time
            if now - last > limit:
                out.append(symbol)
        return out

    def close(self) -> None:
        self.source.close()
