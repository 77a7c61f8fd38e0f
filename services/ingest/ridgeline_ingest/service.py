"""The ingest service adapter: drives a replay or a live feed, one tick per ``poll``.

Each tick publishes every bar of one close time (sorted by symbol) and then a ``Watermark`` for
that time; the run ends with one ``Watermark(end_of_data=True, stats=...)`` so downstream services
and the report know it finished. Control: ``start`` (optionally with files, symbols, max_bars,
speed), ``stop`` (end now, with end of data), and the worker's built-in ``pause``/``resume``.

Restarts: the state (cursor = last published tick, counters, phase, the plan of the run) is in the
snapshot the worker commits with every tick and every command of a source. A restarted replay
rebuilds its pipeline and fast-forwards through the ticks it already published, without
republishing them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ridgeline_ingest.pipeline import Ingestor, Tick
from ridgeline_ingest.replay import LiveFeed, Pacer, Replay
from ridgeline_ingest.settings import IngestSettings, bundled_data_dir, resolve_paths
from ridgeline_ingest.sources.alpaca_live import AlpacaBarSource
from ridgeline_ingest.sources.base import BarSource
from ridgeline_ingest.sources.files import Discovery, FileOptions, discover
from ridgeline_ingest.sources.synthetic import SyntheticSpec, synthetic_source
from ridgeline_ingest.stats import SymbolStats, totals
from ridgeline_shared.clock import wall_now
from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Watermark
from ridgeline_shared.runtime.service import CommandError, Outbox, Service

log = logging.getLogger("ridgeline.ingest")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATE_VERSION = 1
PROGRESS_LOG_EVERY = 1000


class StartPayload(BaseModel):
    """Body of ``POST /control/start``; every field optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: list[str] | None = None
    symbols: list[str] | None = None
    max_bars: Annotated[int, Field(ge=1)] | None = None
    speed: Annotated[float, Field(ge=0)] | None = None


class IngestService(Service):
    name: ClassVar[str] = "ingest"
    inputs = ()
    outputs = (Stream.BARS,)
    commands: ClassVar[tuple[str, ...]] = ("start", "stop")

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Callable[[], datetime] = wall_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(settings, IngestSettings):
            raise TypeError("IngestService needs IngestSettings")
        super().__init__(settings)
        self.config = settings.ingest
        self.interval = settings.bar_interval()
        self.calendar = settings.trading_calendar()
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._roots: tuple[Path, ...] = ()
        if self.config.source == "files":
            self._roots = tuple(p if p.is_dir() else p.parent for p in resolve_paths(self.config))
            bundled = bundled_data_dir()
            if bundled is not None:
                self._roots += (bundled,)
        self._engine: Replay | LiveFeed | None = None
        self._discovery: Discovery | None = None
        self._pacer = Pacer(self.config.speed, self.config.max_wait_s)
        self.restore(None)
        if self.config.source == "files":
            found = self._discover(self._plan)
            if not found.chosen:
                skipped = "; ".join(f"{s.path}: {s.reason}" for s in found.skipped[:5])
                raise ValueError(f"ingest.paths: no usable bar files in {self._plan['paths']} ({skipped})")

    # -- state ---------------------------------------------------------------------------
    def _default_plan(self) -> dict[str, Any]:
        paths = [str(p) for p in resolve_paths(self.config)] if self.config.source == "files" else []
        return {
            "paths": paths,
            "symbols": list(self.config.symbols),
            "max_bars": self.config.max_bars,
            "speed": self.config.speed,
        }

    def restore(self, data: bytes | None) -> None:
        with self._lock:
            self._close_engine()
            if data:
                state = json.loads(data)
                if state.get("version") != STATE_VERSION:
                    raise ValueError(f"ingest snapshot version {state.get('version')} is not {STATE_VERSION}")
            else:
                state = {}
            self._phase: str = state.get("phase") or ("running" if self.config.autostart else "idle")
            self._plan: dict[str, Any] = state.get("plan") or self._default_plan()
            last = state.get("last_tick")
            self._last_tick: datetime | None = datetime.fromisoformat(last) if last else None
            self._ticks: int = int(state.get("ticks", 0))
            self._bars: int = int(state.get("bars", 0))
            self._ended_by: str | None = state.get("ended_by")
            self._saved_stats = {
                symbol: SymbolStats.from_dict(d) for symbol, d in state.get("stats", {}).items()
            }
            self._pacer.reset(float(self._plan.get("speed") or 0.0))
            self._started_mono: float | None = None
            self._ended_mono: float | None = None
            self._bars_this_process = 0

    def snapshot(self) -> bytes:
        with self._lock:
            return self._state_bytes()

    def _state_bytes(self) -> bytes:
        stats = self._engine.ingestor.stats if self._engine is not None else self._saved_stats
        state = {
            "version": STATE_VERSION,
            "phase": self._phase,
            "plan": self._plan,
            "last_tick": self._last_tick.isoformat() if self._last_tick else None,
            "ticks": self._ticks,
            "bars": self._bars,
            "ended_by": self._ended_by,
            "stats": {s: st.to_dict() for s, st in sorted(stats.items())},
        }
        return json.dumps(state, separators=(",", ":")).encode()

    # -- engine ---------------------------------------------------------------------------
    def _discover(self, plan: dict[str, Any]) -> Discovery:
        options = FileOptions(ZoneInfo(self.config.naive_timezone), self.config.timestamp_is == "close")
        paths = [Path(p) for p in plan["paths"]]
        return discover(paths, self.interval, plan["symbols"], options)

    def _build_source(self) -> tuple[BarSource, dict[str, str]]:
        cfg = self.config
        if cfg.source == "files":
            self._discovery = self._discover(self._plan)
            labels = {c.symbol: f"file:{c.path.name}" for c in self._discovery.chosen}
            return self._discovery.source("files"), labels
        if cfg.source == "synthetic":
            syn = cfg.synthetic
            symbols = self._plan["symbols"] or list(syn.symbols)
            spec = SyntheticSpec(
                symbols=symbols,
                bars=syn.bars,
                interval_minutes=self.interval.minutes,
                seed=syn.seed,
                start=syn.start,
                sigma_bps=syn.sigma_bps,
                drift_bps=syn.drift_bps,
                start_price=syn.start_price,
            )
            return synthetic_source(spec), {}
        alpaca = cfg.alpaca
        if alpaca.api_key is None or alpaca.secret_key is None:
            raise ValueError("ingest.alpaca.api_key and secret_key are required")  # settings check it
        source = AlpacaBarSource(
            self._plan["symbols"],
            api_key=alpaca.api_key.get_secret_value(),
            secret_key=alpaca.secret_key.get_secret_value(),
            asset_class=alpaca.asset_class,
            feed=alpaca.feed,
            url=alpaca.url,
            clock=self._clock,
        )
        return source, {}

    def _ensure_engine(self) -> Replay | LiveFeed:
        if self._engine is not None:
            return self._engine
        source, labels = self._build_source()
        live = not source.historical
        ingestor = Ingestor(
            self.interval,
            self.calendar,
            self.config.quality(),
            source.label,
            labels=labels,
            expected=source.symbols() if live else (),
        )
        if live:
            ingestor.stats = dict(self._saved_stats)
            ingestor.last_tick = self._last_tick
            self._engine = LiveFeed(source, ingestor, timedelta(milliseconds=self.config.tick_grace_ms))
            self._live_since = self._clock()
        else:
            replay = Replay(source, ingestor, self._plan.get("max_bars"))
            if self._last_tick is not None:
                skipped = replay.skip_through(self._last_tick)
                if skipped != self._ticks:
                    log.warning(
                        "fast-forward found %d ticks up to %s where %d were published; the data changed",
                        skipped,
                        self._last_tick.isoformat(),
                        self._ticks,
                    )
                else:
                    log.info("resumed the replay after %d published ticks", skipped)
            self._engine = replay
        return self._engine

    def _close_engine(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.source.close()
        self._engine = None

    # -- ticks ----------------------------------------------------------------------------
    def poll(self, out: Outbox) -> bool:
        with self._lock:
            if self._phase != "running":
                return False
            engine = self._ensure_engine()
            if isinstance(engine, Replay):
                tick = engine.peek()
                if tick is None:
                    self._finish(out, engine.ended_by or "end_of_data")
                    return True
                if self._pacer.delay(tick.event_time, self._monotonic()) > 0:
                    return False
                engine.next_tick()
                self._pacer.published(tick.event_time, self._monotonic())
            else:
                live_tick = engine.next_tick(self._clock())
                if live_tick is None:
                    return False
                tick = live_tick
            self._publish(tick, out)
            return True

    def poll_after(self) -> float | None:
        """A paced replay's wait until its next tick is due (none known for live sources)."""
        with self._lock:
            engine = self._engine
            if self._phase != "running" or not isinstance(engine, Replay):
                return None
            tick = engine.peek()
            return None if tick is None else self._pacer.delay(tick.event_time, self._monotonic())

    def _publish(self, tick: Tick, out: Outbox) -> None:
        for bar in tick.bars:
            out.emit(Stream.BARS, bar)
        out.emit(
            Stream.BARS,
            Watermark(
                event_time=tick.event_time,
                trace_id=f"ingest@{tick.event_time.isoformat()}",
                producer=self.name,
            ),
        )
        self._last_tick = tick.event_time
        self._ticks += 1
        self._bars += len(tick.bars)
        if self._started_mono is None:
            self._started_mono = self._monotonic()
        self._bars_this_process += len(tick.bars)
        if self._ticks % PROGRESS_LOG_EVERY == 0:
            log.info("replay progress %s", json.dumps(self._progress()))

    def _finish(self, out: Outbox, ended_by: str) -> None:
        stats = self._engine.ingestor.stats if self._engine is not None else self._saved_stats
        counters = totals(stats)
        counters.update(
            ticks=self._ticks,
            bars_published=self._bars,
            stopped=int(ended_by == "stopped"),
            max_bars_reached=int(ended_by == "max_bars"),
        )
        out.emit(
            Stream.BARS,
            Watermark(
                event_time=self._last_tick or EPOCH,
                trace_id="ingest@end_of_data",
                producer=self.name,
                end_of_data=True,
                stats=counters,
            ),
        )
        if self._engine is not None:
            self._saved_stats = dict(self._engine.ingestor.stats)
            self._engine.source.close()  # kept (closed) so /status still shows the final progress
        self._phase = "finished"
        self._ended_by = ended_by
        self._ended_mono = self._monotonic()
        log.info("end of data (%s): %s", ended_by, json.dumps(counters, sort_keys=True))

    # -- control --------------------------------------------------------------------------
    def apply_command(self, command: str, payload: dict[str, Any], out: Outbox) -> dict[str, Any]:
        with self._lock:
            if command == "start":
                return self._start(payload, out)
            if command == "stop":
                if self._phase == "finished":
                    return {"phase": self._phase, "ended_by": self._ended_by, "changed": False}
                self._finish(out, "stopped")
                return {"phase": self._phase, "ended_by": self._ended_by, "changed": True}
        raise CommandError(f"unknown command {command!r}")

    def _start(self, payload: dict[str, Any], out: Outbox) -> dict[str, Any]:
        try:
            request = StartPayload.model_validate(payload)
        except ValidationError as exc:
            raise CommandError(f"bad start payload: {exc.errors()[0]['msg']}") from None
        if self._phase == "finished":
            raise CommandError(
                "this run has ended (end of data was published); restart the service for a new one"
            )
        replan: dict[str, Any] = {
            k: v for k, v in (("paths", request.paths), ("symbols", request.symbols)) if v is not None
        }
        if request.max_bars is not None:
            replan["max_bars"] = request.max_bars
        if replan and (self._phase == "running" or self._ticks):
            raise CommandError("a replay is under way: stop it (end of data) before starting another")
        if request.paths is not None:
            if self.config.source != "files":
                raise CommandError(f"paths apply to the files source, not {self.config.source}")
            replan["paths"] = [str(self._allowed(p)) for p in request.paths]
        plan = {**self._plan, **replan}
        if request.speed is not None:
            plan["speed"] = request.speed
        if self.config.source == "files" and replan:
            found = self._discover(plan)
            if not found.chosen:
                raise CommandError(f"no usable bar files in {plan['paths']}")
        if replan:
            self._close_engine()
        self._plan = plan
        self._pacer.reset(float(plan.get("speed") or 0.0))
        changed = self._phase != "running" or bool(replan) or request.speed is not None
        self._phase = "running"
        return {"phase": self._phase, "plan": self._plan, "changed": changed}

    def _allowed(self, raw: str) -> Path:
        path = Path(raw).expanduser().resolve()
        for root in self._roots:
            if path == root.resolve() or path.is_relative_to(root.resolve()):
                if not path.exists():
                    raise CommandError(f"{raw} does not exist")
                return path
        raise CommandError(
            f"{raw} is outside the configured data directories {[str(r) for r in self._roots]}"
        )

    # -- introspection --------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        with self._lock:
            engine = self._engine
            source = engine.source if isinstance(engine, LiveFeed) else None
            if isinstance(source, AlpacaBarSource) and not source.connected:
                return False, "alpaca stream not connected"
        return True, "ok"

    def _progress(self) -> dict[str, Any]:
        if isinstance(self._engine, Replay):
            progress = self._engine.progress()
        else:
            progress = {
                "ticks": self._ticks,
                "bars": self._bars,
                "last_event_time": self._last_tick.isoformat() if self._last_tick else None,
                "ended_by": self._ended_by,
            }
        progress["ticks"] = self._ticks
        progress["bars"] = self._bars
        if self._ended_by:
            progress["ended_by"] = self._ended_by
        until = self._ended_mono if self._ended_mono is not None else self._monotonic()
        elapsed = None if self._started_mono is None else until - self._started_mono
        progress["bars_per_s"] = round(self._bars_this_process / elapsed, 1) if elapsed else None
        return progress

    def status(self) -> dict[str, Any]:
        with self._lock:
            engine = self._engine
            stats = engine.ingestor.stats if engine is not None else self._saved_stats
            now = self._clock()
            live = isinstance(engine, LiveFeed)
            stale: set[str] = set()
            if isinstance(engine, LiveFeed):
                stale = set(engine.stale_symbols(now, self.config.quality().stale_after, self._live_since))
            symbols: dict[str, Any] = {}
            for symbol, st in sorted(stats.items()):
                entry = st.to_dict()
                last = st.last_event_time
                if last is None:
                    lag = None
                elif live:
                    lag = (now - last).total_seconds()  # wall clock behind the market
                else:
                    lag = ((self._last_tick or last) - last).total_seconds()  # behind the replay clock
                entry["lag_s"] = lag
                if live:
                    entry["stale"] = symbol in stale
                symbols[symbol] = entry
            result: dict[str, Any] = {
                "phase": self._phase,
                "source": self.config.source,
                "mode": self.settings.mode,
                "interval": self.interval.spec,
                "calendar": self.calendar.name,
                "plan": self._plan,
                "progress": self._progress(),
                "totals": totals(stats),
                "symbols": symbols,
            }
            if self._discovery is not None:
                result["files"] = {c.symbol: str(c.path) for c in self._discovery.chosen}
                result["skipped_files"] = [
                    {"path": s.path, "reason": s.reason} for s in self._discovery.skipped
                ]
            if isinstance(engine, LiveFeed) and isinstance(engine.source, AlpacaBarSource):
                result["live"] = engine.source.status() | {"stale_symbols": sorted(stale)}
            return result
