"""The consumer loop: read, merge into ticks, handle, commit atomically; restore on start.

Delivery contract (DESIGN.md): a tick's outputs, the XACK of its inputs, the progress record and
any durable writes the handlers queued go in one MULTI/EXEC. A crash before EXEC leaves nothing, so
the restarted worker restores the last snapshot, replays the inputs committed since (outputs
discarded), and takes the rest from the group's pending entries: the outputs equal an
uninterrupted run's.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import redis
from redis import Redis

from ridgeline_shared import codec
from ridgeline_shared.clock import wall_now, wall_ns
from ridgeline_shared.keys import Keys, Stream, group_name
from ridgeline_shared.messages import DeadLetter, Execution, RiskEvent, Watermark
from ridgeline_shared.runtime import bus, metrics
from ridgeline_shared.runtime.merge import LateEntryError, Tick, TickMerger
from ridgeline_shared.runtime.service import Outbox, Service
from ridgeline_shared.runtime.ticks import Failure, run_tick

log = logging.getLogger("ridgeline.worker")

BUILTIN_COMMANDS = ("pause", "resume")


@dataclass
class _Command:
    name: str
    payload: dict[str, Any]
    future: Future[dict[str, Any]] = field(default_factory=Future)


@dataclass
class _Batch:
    """Ticks handled but not yet committed: committed together in one transaction."""

    out: Outbox = field(default_factory=Outbox)
    acks: dict[Stream, list[str]] = field(default_factory=dict)
    dead: list[Failure] = field(default_factory=list)
    ticks: int = 0
    last_tick: datetime | None = None
    end_of_data: bool = False
    force_snapshot: bool = False

    def empty(self) -> bool:
        return not (self.out.messages or self.out.ops or self.acks or self.dead or self.force_snapshot)


class Worker:
    """Runs one service instance against Redis in a background thread."""

    def __init__(self, service: Service, client_factory: Callable[[], Redis] | None = None) -> None:
        self.service = service
        self.settings = service.settings
        self.name = service.name
        self.keys = Keys(self.settings.prefix, self.settings.shard)
        self.group = group_name(self.name)
        self.consumer = self.settings.consumer or f"{self.name}-{self.settings.shard}"
        self._client_factory = client_factory or (lambda: redis.Redis.from_url(self.settings.redis_url))
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.paused = False
        self.fatal: BaseException | None = None
        self.started = threading.Event()
        self.redis_ok = False
        self.ticks = 0
        self.dead_letters = 0
        self.end_of_data = False
        self.last_tick: datetime | None = None
        self.output_lag: dict[str, int] = {}
        self._merger: TickMerger | None = None
        self._ticks_since_snapshot = 0
        self._published: dict[Stream, int] = {}
        self._claimed_at = 0.0
        self._trimmed_at = 0.0
        self.on_fatal: Callable[[BaseException], None] | None = None

    # -- thread control --------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, name: str, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Run a control command in the worker thread, between ticks; wait for its result."""
        if name not in BUILTIN_COMMANDS and name not in self.service.commands:
            raise KeyError(name)
        command = _Command(name, payload)
        self._commands.put(command)
        return command.future.result(timeout)

    # -- main loop -------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                client = self._client_factory()
                client.ping()
                self.redis_ok = True
                self._initialise(client)
                self.started.set()
                backoff = 0.1
                self._loop(client)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # Uncommitted work is simply redone: state is rebuilt from Redis on reconnect.
                self.redis_ok = False
                log.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except BaseException as exc:
                self.fatal = exc
                log.critical("worker failed: %s", "".join(traceback.format_exception(exc)))
                if self.on_fatal:
                    self.on_fatal(exc)
                return

    def _initialise(self, client: Redis) -> None:
        service = self.service
        for spec in service.inputs:
            bus.ensure_group(client, self.keys.stream(spec.stream), self.group)
        snap: dict[bytes, bytes] = cast(Any, client.hgetall(self.keys.snapshot(self.name)))
        state = snap.get(b"state")
        service.restore(state)
        self._merger = TickMerger(service.inputs) if service.inputs else None
        if self._merger is not None and snap.get(b"merger"):
            self._merger.load_state(json.loads(snap[b"merger"]))
        self.last_tick = self._merger.last_tick if self._merger else None
        if self._merger is not None and not service.snapshot_every_tick:
            self._replay_committed(client, json.loads(snap.get(b"positions", b"{}")))
        service.on_start(client)
        if self._merger is not None:
            self._read_pending(client)

    def _replay_committed(self, client: Redis, snapshot_positions: dict[str, str]) -> None:
        """Re-run the ticks committed after the snapshot, outputs discarded, to rebuild state."""
        assert self._merger is not None
        progress: dict[bytes, bytes] = cast(Any, client.hgetall(self.keys.progress(self.name)))
        committed = json.loads(progress.get(b"positions", b"{}"))
        replayed = 0
        for spec in self.service.inputs:
            until = committed.get(spec.stream.value)
            if until is None:
                continue
            after = snapshot_positions.get(spec.stream.value)
            for entry_id, fields in bus.xrange_after(client, self.keys.stream(spec.stream), after, until):
                try:
                    self._merger.add(spec.stream, entry_id, codec.decode(spec.stream, fields))
                except (codec.DecodeError, LateEntryError):
                    continue  # went to dead letters the first time
                replayed += 1
        while (tick := self._merger.next_tick()) is not None:
            self._handle(tick, _Batch())
        self.last_tick = self._merger.last_tick
        if replayed:
            log.info("rebuilt state by replaying %d committed entries", replayed)

    def _read_pending(self, client: Redis) -> None:
        streams = {self.keys.stream(s.stream): "0" for s in self.service.inputs}
        while True:
            got = bus.read_group(
                client, self.group, self.consumer, streams, self.settings.bus.batch_size, None
            )
            fresh = {stream: entries for stream, entries in got if entries}
            if not fresh:
                return
            self._ingest(client, fresh)
            for stream, entries in fresh.items():
                streams[stream] = entries[-1][0]

    def _loop(self, client: Redis) -> None:
        service = self.service
        block = self.settings.bus.block_ms
        while not self._stop.is_set():
            self._run_commands(client)
            if self.paused:
                self._stop.wait(block / 1000)
                continue
            if self._merger is None:
                batch = _Batch()
                produced = service.poll(batch.out)
                if not batch.empty():
                    self._commit(client, batch)
                    self._count_source_ticks(batch)
                if not produced:
                    self._stop.wait(block / 1000)
                continue
            self._maybe_claim(client)
            got = self._read(client, block)
            if got:
                self._ingest(client, dict(got))
            batch = _Batch()
            while (tick := self._merger.next_tick()) is not None:
                self._handle(tick, batch)
                if batch.ticks >= 64 or len(batch.out.messages) >= self.settings.bus.batch_size * 4:
                    self._commit(client, batch)
                    batch = _Batch()
            if not batch.empty():
                self._commit(client, batch)
            elif not got and self.settings.mode != "replay":
                idle = _Batch()
                service.on_idle(idle.out)
                if not idle.empty():
                    self._commit(client, idle)
            self._maybe_trim(client)

    def _read(self, client: Redis, block_ms: int) -> list[tuple[str, list[bus.RawEntry]]]:
        assert self._merger is not None
        bound = self.settings.bus.max_lag
        streams = {
            self.keys.stream(s.stream): ">"
            for s in self.service.inputs
            if self._merger.buffered(s.stream) < bound or self._merger.needs(s.stream)
        }
        if not streams:
            self._stop.wait(block_ms / 1000)
            return []
        got = bus.read_group(
            client, self.group, self.consumer, streams, self.settings.bus.batch_size, block_ms
        )
        return [(stream, entries) for stream, entries in got if entries]

    def _maybe_claim(self, client: Redis) -> None:
        idle_ms = self.settings.bus.claim_idle_ms
        now = time.monotonic()
        if now - self._claimed_at < idle_ms / 2000:
            return
        self._claimed_at = now
        for spec in self.service.inputs:
            key = self.keys.stream(spec.stream)
            claimed = bus.autoclaim(
                client, key, self.group, self.consumer, idle_ms, self.settings.bus.batch_size
            )
            if claimed:
                log.warning("claimed %d entries left pending on %s", len(claimed), key)
                self._ingest(client, {key: claimed})

    def _ingest(self, client: Redis, got: dict[str, list[bus.RawEntry]]) -> None:
        """Decode and buffer; undecodable or late entries go to dead letters at once."""
        assert self._merger is not None
        by_key = {self.keys.stream(s.stream): s.stream for s in self.service.inputs}
        dead = _Batch()
        for key, entries in got.items():
            stream = by_key[key]
            metrics.MESSAGES_IN.labels(self.name, stream.value).inc(len(entries))
            metrics.BATCH_SIZE.labels(self.name).observe(len(entries))
            for entry_id, fields in entries:
                try:
                    self._merger.add(stream, entry_id, codec.decode(stream, fields))
                except (codec.DecodeError, LateEntryError) as exc:
                    dead.dead.append(Failure(stream, entry_id, fields, str(exc), 1))
                    dead.acks.setdefault(stream, []).append(entry_id)
        if not dead.empty():
            self._commit(client, dead, progress=False)

    # -- handling --------------------------------------------------------------------------
    def _handle(self, tick: Tick, batch: _Batch) -> None:
        started = time.perf_counter()
        for failure in run_tick(
            self.service, tick, batch.out, self.settings.bus.max_attempts, self.last_tick
        ):
            batch.dead.append(failure)
        for stream, ids in tick.consumed.items():
            batch.acks.setdefault(stream, []).extend(ids)
        if tick.event_time is not None:
            batch.last_tick = self.last_tick = tick.event_time
            metrics.LAST_TICK.labels(self.name).set(tick.event_time.timestamp())
        batch.ticks += 1
        batch.end_of_data = batch.end_of_data or tick.end_of_data
        self.ticks += 1
        self._ticks_since_snapshot += 1
        metrics.TICKS.labels(self.name).inc()
        metrics.HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    def _run_commands(self, client: Redis) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                result = self._apply(client, command)
            except Exception as exc:
                command.future.set_exception(exc)
            else:
                command.future.set_result(result)

    def _apply(self, client: Redis, command: _Command) -> dict[str, Any]:
        if command.name in BUILTIN_COMMANDS:
            self.paused = command.name == "pause"
            metrics.PAUSED.labels(self.name).set(int(self.paused))
            return {"paused": self.paused}
        batch = _Batch(force_snapshot=True)
        result = self.service.apply_command(command.name, command.payload, batch.out)
        self._commit(client, batch)
        return result

    # -- committing ------------------------------------------------------------------------
    def _count_source_ticks(self, batch: _Batch) -> None:
        """A source's ticks are the watermarks it published."""
        for _, message in batch.out.messages:
            if isinstance(message, Watermark):
                self.ticks += 1
                self.last_tick = message.event_time
                self.end_of_data = self.end_of_data or message.end_of_data
                metrics.TICKS.labels(self.name).inc()
                metrics.LAST_TICK.labels(self.name).set(message.event_time.timestamp())

    def _commit(self, client: Redis, batch: _Batch, *, progress: bool = True) -> None:
        source = self._merger is None
        self._backpressure(client, batch)
        started = time.perf_counter()
        now_ns = wall_ns()
        pipe = client.pipeline(transaction=True)
        for stream, message in batch.out.messages:
            stamped = message.stamped(self.name, now_ns)
            pipe.xadd(self.keys.stream(stream), codec.encode(stamped))  # type: ignore[arg-type]
            metrics.MESSAGES_OUT.labels(self.name, stream.value).inc()
            self._count_trading(message)
            ingest_ns = message.trace.get("ingest")
            if ingest_ns and not isinstance(message, Watermark):
                metrics.E2E_SECONDS.labels(self.name).observe(max(0, now_ns - ingest_ns) / 1e9)
        for failure in batch.dead:
            letter = DeadLetter(
                event_time=wall_now(),
                trace_id=f"dead@{failure.entry_id}",
                stream=self.keys.stream(failure.stream),
                entry_id=failure.entry_id,
                group=self.group,
                consumer=self.consumer,
                attempts=failure.attempts,
                error=failure.error[:4096],
                fields={
                    k.decode(errors="replace"): v.decode(errors="replace")[:65536]
                    for k, v in failure.fields.items()
                },
            )
            dlq = self.keys.stream(Stream.DEAD_LETTERS)
            pipe.xadd(dlq, codec.encode(letter), maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
            metrics.DEAD_LETTERS.labels(self.name, failure.stream.value).inc()
            self.dead_letters += 1
        for stream, ids in batch.acks.items():
            if ids:
                pipe.xack(self.keys.stream(stream), self.group, *ids)
        for op in batch.out.ops:
            op(pipe)
        if progress:
            positions = json.dumps(self._merger.positions()) if self._merger else "{}"
            pipe.hset(
                self.keys.progress(self.name),
                mapping={
                    "positions": positions,
                    "tick": self.last_tick.isoformat() if self.last_tick else "",
                },
            )
            due = self._ticks_since_snapshot >= self.settings.bus.snapshot_every_ticks
            if self.service.snapshot_every_tick or due or batch.force_snapshot or batch.end_of_data or source:
                self._write_snapshot(pipe, positions)
        pipe.execute()
        metrics.COMMIT_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        self.end_of_data = self.end_of_data or batch.end_of_data

    def _count_trading(self, message: object) -> None:
        if isinstance(message, Execution):
            metrics.ORDERS.labels(self.name, message.status.value).inc()
            if message.fill is not None:
                metrics.FILLS.inc()
        elif isinstance(message, RiskEvent) and message.reason_code is not None:
            metrics.DENIALS.labels(message.reason_code.value).inc()

    def _write_snapshot(self, pipe: Any, positions: str) -> None:
        merger = json.dumps(self._merger.state()) if self._merger else "{}"
        pipe.hset(
            self.keys.snapshot(self.name),
            mapping={"state": self.service.snapshot(), "merger": merger, "positions": positions},
        )
        self._ticks_since_snapshot = 0

    def _backpressure(self, client: Redis, batch: _Batch) -> None:
        """Hold a batch while a consumer of its outputs lags beyond ``bus.max_lag`` entries.

        Redis is asked only when the last measured lag plus what was published since could
        exceed the bound, so a fast consumer costs no extra round trips.
        """
        counts: dict[Stream, int] = {}
        for stream, message in batch.out.messages:
            if not isinstance(message, Watermark):
                counts[stream] = counts.get(stream, 0) + 1
        bound = self.settings.bus.max_lag
        for stream, count in counts.items():
            estimate = self.output_lag.get(stream.value, 0) + self._published.get(stream, 0) + count
            if estimate <= bound:
                self._published[stream] = self._published.get(stream, 0) + count
                continue
            while not self._stop.is_set():
                lag = bus.group_lag(client, self.keys.stream(stream), bound * 2)
                self.output_lag[stream.value] = lag
                self._published[stream] = 0
                metrics.CONSUMER_LAG.labels(self.name, stream.value).set(lag)
                if lag + count <= bound or lag == 0:
                    break
                metrics.BACKPRESSURE_WAITS.labels(self.name).inc()
                self._stop.wait(self.settings.bus.block_ms / 1000)
            self._published[stream] = count

    def _maybe_trim(self, client: Redis) -> None:
        now = time.monotonic()
        if now - self._trimmed_at < 5.0:
            return
        self._trimmed_at = now
        keep: dict[str, list[str]] = {}
        for spec in self.service.inputs:
            key = self.keys.stream(spec.stream)
            for info in client.xinfo_groups(key):
                snap = client.hget(self.keys.snapshot(bus._s(info["name"])), "positions")
                position = json.loads(snap or b"{}").get(spec.stream.value)
                if position:
                    keep.setdefault(key, []).append(position)
        for spec in self.service.inputs:
            key = self.keys.stream(spec.stream)
            bus.trim(client, key, self.settings.bus.retain_entries, keep.get(key, []))

    # -- introspection -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "consumer": self.consumer,
            "shard": self.settings.shard,
            "mode": self.settings.mode,
            "paused": self.paused,
            "redis": self.redis_ok,
            "ticks": self.ticks,
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
            "end_of_data": self.end_of_data,
            "dead_letters": self.dead_letters,
            "output_lag": dict(self.output_lag),
            "fatal": repr(self.fatal) if self.fatal else None,
        }

    def ready(self) -> tuple[bool, list[str]]:
        reasons = []
        if not self.alive:
            reasons.append("worker not running")
        if not self.redis_ok:
            reasons.append("redis unreachable")
        if not self.started.is_set():
            reasons.append("restoring state")
        if any(lag > self.settings.bus.max_lag for lag in self.output_lag.values()):
            reasons.append("output lag above bus.max_lag")
        ok, why = self.service.ready()
        if not ok:
            reasons.append(why)
        return not reasons, reasons
