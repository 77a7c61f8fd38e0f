"""Rows in, ticks of validated bars out: the pure core shared by replay, live and tests.

Per symbol: row rules -> resampling to the running interval -> gap and outlier flags -> a ``Bar``
(event time = bar close). Across symbols: complete bars wait in ``pending`` until their close
time is a finished *tick* (every bar of one close time, sorted by symbol), which the caller
decides with a watermark (:meth:`Ingestor.advance`: historical sources, or the wall clock minus a
grace in live mode) or, live, as soon as every expected symbol is past it
(:meth:`Ingestor.complete_ticks`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from ridgeline_ingest.calendar import TradingCalendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.resample import Aggregate, Resampler
from ridgeline_ingest.rows import BadRow, RawRow, Reason, SourceItem, SymbolEnd
from ridgeline_ingest.stats import SymbolStats
from ridgeline_ingest.validate import QualityTracker, RowValidator
from ridgeline_shared.messages import Bar

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,31}$")


@dataclass(frozen=True, slots=True)
class QualityConfig:
    outlier_sigma: float = 8.0
    outlier_window: int = 100
    outlier_min_samples: int = 30
    # Live: a bar that reaches us later than this after its close is counted stale.
    stale_after: timedelta = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Tick:
    """Every bar closing at ``event_time``, sorted by symbol."""

    event_time: datetime
    bars: tuple[Bar, ...]


def bar_trace_id(symbol: str, event_time: datetime) -> str:
    return f"{symbol}@{event_time.isoformat()}"


class SymbolPipeline:
    __slots__ = ("interval", "quality", "resampler", "source", "stats", "symbol", "validator")

    def __init__(
        self,
        symbol: str,
        *,
        interval: Interval,
        calendar: TradingCalendar,
        quality: QualityConfig,
        source: str,
        stats: SymbolStats,
    ) -> None:
        self.symbol = symbol
        self.interval = interval
        self.source = source
        self.stats = stats
        self.validator = RowValidator(interval, calendar)
        self.resampler = Resampler()
        self.quality = QualityTracker(
            interval, calendar, quality.outlier_sigma, quality.outlier_window, quality.outlier_min_samples
        )

    def push(self, row: RawRow, floor: datetime | None) -> list[Bar]:
        """``floor``: the last published tick; rows for bars closing by then are late."""
        self.stats.rows += 1
        closed = self.resampler.closed_until
        if floor is not None and (closed is None or floor > closed):
            closed = floor
        bounds = self.validator.check(row, closed)
        if isinstance(bounds, Reason):
            self.stats.reject(bounds)
            return []
        return self._bars(self.resampler.add(row, *bounds))

    def advance(self, watermark: datetime) -> list[Bar]:
        return self._bars(self.resampler.advance(watermark))

    def finish(self) -> None:
        before = self.resampler.partial_dropped
        self.resampler.finish()
        self.stats.partial_dropped += self.resampler.partial_dropped - before

    @property
    def progress(self) -> datetime | None:
        return self.resampler.progress

    def _bars(self, aggregates: list[Aggregate]) -> list[Bar]:
        out = []
        for agg in aggregates:
            assessment = self.quality.assess(agg.start, agg.end, agg.close)
            try:
                bar = Bar(
                    event_time=agg.end,
                    trace_id=bar_trace_id(self.symbol, agg.end),
                    symbol=self.symbol,
                    interval=self.interval.spec,
                    open_time=agg.start,
                    open=agg.open,
                    high=agg.high,
                    low=agg.low,
                    close=agg.close,
                    volume=agg.volume,
                    received_at=agg.received_at if agg.received_at is not None else agg.end,
                    gap_bars=assessment.gap_bars,
                    outlier=assessment.outlier,
                    source=self.source,
                )
            except ValidationError:
                self.stats.reject(Reason.INVALID_BAR)
                continue
            self.quality.commit(assessment, agg.end, agg.close)
            out.append(bar)
        return out


@dataclass(slots=True)
class Ingestor:
    """All symbols of one run. Not thread-safe; the service serialises access."""

    interval: Interval
    calendar: TradingCalendar
    quality: QualityConfig = QualityConfig()
    source: str = "unknown"
    # Per-symbol provenance stamped on bars (e.g. the file name); falls back to ``source``.
    labels: dict[str, str] = field(default_factory=dict)
    # Live: symbols whose bars make a tick complete before the grace period runs out.
    expected: Sequence[str] = ()
    stats: dict[str, SymbolStats] = field(default_factory=dict)
    pipelines: dict[str, SymbolPipeline | None] = field(default_factory=dict)
    pending: dict[datetime, list[Bar]] = field(default_factory=dict)
    last_tick: datetime | None = None

    def push(self, item: SourceItem) -> None:
        if isinstance(item, SymbolEnd):
            pipeline = self.pipelines.get(item.symbol)
            if pipeline is not None:
                pipeline.finish()
            return
        pipeline = self._pipeline(item.symbol)
        if isinstance(item, BadRow):
            stats = self._stats(item.symbol)
            stats.rows += 1
            stats.reject(item.reason)
            return
        if pipeline is None:
            stats = self._stats(item.symbol)
            stats.rows += 1
            stats.reject(Reason.BAD_SYMBOL)
            return
        self._stage(pipeline.push(item, self.last_tick))

    def push_all(self, items: Iterable[SourceItem]) -> None:
        for item in items:
            self.push(item)

    def advance(self, watermark: datetime) -> list[Tick]:
        """Every source row closing at or before ``watermark`` has been pushed."""
        for symbol in sorted(self.pipelines):
            pipeline = self.pipelines[symbol]
            if pipeline is not None:
                self._stage(pipeline.advance(watermark))
        return self._release(watermark)

    def complete_ticks(self) -> list[Tick]:
        """Ticks that every expected symbol has moved past (live: no need to wait for the grace)."""
        if not self.expected or not self.pending:
            return []
        marks = []
        for symbol in self.expected:
            pipeline = self.pipelines.get(symbol)
            mark = None if pipeline is None else pipeline.progress
            if mark is None:
                return []
            marks.append(mark)
        return self._release(min(marks))

    def finish(self) -> list[Tick]:
        """The source ended: drop unfinished bars and release every complete one."""
        for symbol in sorted(self.pipelines):
            pipeline = self.pipelines[symbol]
            if pipeline is not None:
                pipeline.finish()
        return self._release(None)

    def commit(self, tick: Tick) -> None:
        """Record a tick as published: counters, last bars, and the floor for late rows."""
        stale_after = self.quality.stale_after
        for bar in tick.bars:
            stats = self._stats(bar.symbol)
            stats.bars += 1
            if bar.gap_bars:
                stats.gaps += 1
                stats.gap_bars += bar.gap_bars
            stats.outliers += bar.outlier
            if bar.received_at - bar.event_time > stale_after:
                stats.stale_bars += 1
            if stats.first_event_time is None:
                stats.first_event_time = bar.event_time
            stats.last_event_time = bar.event_time
            stats.last_close = bar.close
            stats.last_received_at = bar.received_at
        if self.last_tick is None or tick.event_time > self.last_tick:
            self.last_tick = tick.event_time

    def _release(self, limit: datetime | None) -> list[Tick]:
        out = []
        for event_time in sorted(self.pending):
            if limit is not None and event_time > limit:
                break
            bars = sorted(self.pending.pop(event_time), key=lambda b: b.symbol)
            out.append(Tick(event_time, tuple(bars)))
        if out and (self.last_tick is None or out[-1].event_time > self.last_tick):
            # Nothing at or before a released tick may follow, even if the caller drops it.
            self.last_tick = out[-1].event_time
        return out

    def _stage(self, bars: list[Bar]) -> None:
        for bar in bars:
            self.pending.setdefault(bar.event_time, []).append(bar)

    def _stats(self, symbol: str) -> SymbolStats:
        key = symbol[:32]
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = SymbolStats()
        return stats

    def _pipeline(self, symbol: str) -> SymbolPipeline | None:
        if symbol in self.pipelines:
            return self.pipelines[symbol]
        pipeline = None
        if _SYMBOL.match(symbol):
            pipeline = SymbolPipeline(
                symbol,
                interval=self.interval,
                calendar=self.calendar,
                quality=self.quality,
                source=self.labels.get(symbol, self.source)[:64],
                stats=self._stats(symbol),
            )
        self.pipelines[symbol] = pipeline
        return pipeline


@dataclass(frozen=True, slots=True)
class ValidationResult:
    bars: list[Bar]
    rejected: dict[str, int]
    partial_dropped: int


def validate_rows(
    rows: Iterable[RawRow | BadRow],
    interval: Interval,
    calendar: TradingCalendar,
    quality: QualityConfig = QualityConfig(),
    source: str = "test",
) -> ValidationResult:
    """Run rows (any symbols, each in its own time order) through the whole core in one go:
    the accepted bars in tick order, rejections per reason, unfinished bars dropped."""
    ingestor = Ingestor(interval, calendar, quality, source)
    ingestor.push_all(rows)
    bars: list[Bar] = []
    for tick in ingestor.finish():
        ingestor.commit(tick)
        bars.extend(tick.bars)
    rejected: dict[str, int] = {}
    for stats in ingestor.stats.values():
        for reason, n in stats.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    partial = sum(s.partial_dropped for s in ingestor.stats.values())
    return ValidationResult(bars, dict(sorted(rejected.items())), partial)
