"""The consumer loop: read, merge into ticks, handle, commit atomically; restore on start.

Delivery contract (DESIGN.md): a tick's outputs, the XACK of its inputs, the progress record and
any durable writes the handlers queued go in one MULTI/EXEC. A crash before EXEC leaves nothing, so
the restarted worker restores the last snapshot, replays the inputs committed since (outputs
discarded), and takes the rest from the group's pending entries: the outputs equal an
uninterrupted run's.
"""

from __future__ import annotations

import contextlib
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
from ridgeline_shared.messages import DeadLetter, Execution, Message, RiskEvent, Watermark
from ridgeline_shared.runtime import bus, metrics
from ridgeline_shared.runtime.merge import Tick, TickMerger
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
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
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
                    items = codec.decode_entry(spec.stream, fields)
                except codec.DecodeError:
                    continue  # went to dead letters the first time
                good = [(i, m) for i, m in enumerate(items) if not isinstance(m, codec.DecodeError)]
                self._merger.add_entry(spec.stream, entry_id, good)
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
        # Ticks handled but not committed yet: committed in the same round trip as the next read.
        carried: _Batch | None = None
        try:
            while not self._stop.is_set():
                if carried is not None and (self.paused or not self._commands.empty()):
                    flushing, carried = carried, None
                    self._commit(client, flushing)
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
                        due = service.poll_after()
                        self._stop.wait(block / 1000 if due is None else min(block / 1000, due))
                    continue
                self._maybe_claim(client)
                # Taken before the attempt: a batch whose commit may have reached Redis is never
                # committed again (an error rebuilds state from Redis instead).
                pending, carried = carried, None
                got = self._read(client, block, pending)
                if got:
                    self._ingest(client, dict(got))
                batch = _Batch()
                while (tick := self._merger.next_tick()) is not None:
                    self._handle(tick, batch)
                    if batch.ticks >= 64 or len(batch.out.messages) >= self.settings.bus.batch_size * 4:
                        self._commit(client, batch)
                        batch = _Batch()
                if not batch.empty():
                    carried = batch
                elif not got and self.settings.mode != "replay":
                    idle = _Batch()
                    service.on_idle(idle.out)
                    if not idle.empty():
                        self._commit(client, idle)
                self._maybe_trim(client)
        finally:
            if carried is not None:  # never sent; if this fails it is unacknowledged: redone
                with contextlib.suppress(redis.RedisError):
                    self._commit(client, carried)

    def _read(
        self, client: Redis, block_ms: int, carried: _Batch | None = None
    ) -> list[tuple[str, list[bus.RawEntry]]]:
        """The next entries of the inputs whose buffers have room; ``carried`` is committed first,
        in the same round trip."""
        assert self._merger is not None
        bound = self.settings.bus.max_lag
        streams = {
            self.keys.stream(s.stream): ">"
            for s in self.service.inputs
            if self._merger.buffered(s.stream) < bound or self._merger.needs(s.stream)
        }
        if not streams:
            if carried is not None:
                self._commit(client, carried)
            self._stop.wait(block_ms / 1000)
            return []
        if carried is None:
            got = bus.read_group(
                client, self.group, self.consumer, streams, self.settings.bus.batch_size, block_ms
            )
        else:
            pipe = self._prepare(client, carried)
            got, seconds = bus.commit_then_read(
                client, pipe, self.group, self.consumer, streams, self.settings.bus.batch_size, block_ms
            )
            self._committed(carried, seconds)
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
        """Decode and buffer; undecodable or late messages go to dead letters at once.

        An entry is acknowledged there only when none of its messages was buffered: otherwise
        the tick that consumes them acknowledges it, so a crash in between loses nothing.
        """
        assert self._merger is not None
        by_key = {self.keys.stream(s.stream): s.stream for s in self.service.inputs}
        dead = _Batch()
        for key, entries in got.items():
            stream = by_key[key]
            self._metric(metrics.MESSAGES_IN, stream.value).inc(len(entries))
            self._metric(metrics.BATCH_SIZE).observe(len(entries))
            for entry_id, fields in entries:
                try:
                    items = codec.decode_entry(stream, fields)
                except codec.DecodeError as exc:
                    dead.dead.append(Failure(stream, entry_id, fields, str(exc), 1))
                    dead.acks.setdefault(stream, []).append(entry_id)
                    continue
                good: list[tuple[int, Message]] = []
                for index, item in enumerate(items):
                    if isinstance(item, codec.DecodeError):
                        raw = {codec.FIELD: item.raw or b""}
                        dead.dead.append(Failure(stream, f"{entry_id}#{index}", raw, str(item), 1))
                    else:
                        good.append((index, item))
                late = self._merger.add_entry(stream, entry_id, good)
                for index, error in late:
                    item_id = entry_id if len(items) == 1 else f"{entry_id}#{index}"
                    fields_of = fields if len(items) == 1 else codec.encode(items[index])  # type: ignore[arg-type]
                    dead.dead.append(Failure(stream, item_id, fields_of, str(error), 1))
                if len(late) == len(good):
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
            self._metric(metrics.LAST_TICK).set(tick.event_time.timestamp())
        batch.ticks += 1
        batch.end_of_data = batch.end_of_data or tick.end_of_data
        self.ticks += 1
        self._ticks_since_snapshot += 1
        self._metric(metrics.TICKS).inc()
        self._metric(metrics.HANDLER_SECONDS).observe(time.perf_counter() - started)

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
            self._metric(metrics.PAUSED).set(int(self.paused))
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
                self._metric(metrics.TICKS).inc()
                self._metric(metrics.LAST_TICK).set(message.event_time.timestamp())

    def _entries(self, batch: _Batch, now_ns: int) -> list[tuple[Stream, dict[bytes, bytes]]]:
        """The stream entries a batch's messages go out as, stamped with this hop's publish time.

        With ``bus.frames`` each tick's messages on a stream travel with the watermark closing
        the tick in frames of at most ``bus.frame_messages``; what is not closed by a watermark
        (command and idle outputs) goes one message per entry.
        """
        frames = self.settings.bus.frames
        limit = self.settings.bus.frame_messages
        e2e = self._metric(metrics.E2E_SECONDS)
        open_runs: dict[Stream, list[Message]] = {}
        entries: list[tuple[Stream, dict[bytes, bytes]]] = []
        for stream, message in batch.out.messages:
            stamped = message.stamped(self.name, now_ns)
            self._metric(metrics.MESSAGES_OUT, stream.value).inc()
            self._count_trading(message)
            is_mark = isinstance(message, Watermark)
            ingest_ns = message.trace.get("ingest")
            if ingest_ns and not is_mark:
                e2e.observe(max(0, now_ns - ingest_ns) / 1e9)
            if not frames:
                entries.append((stream, codec.encode(stamped)))
                continue
            run = open_runs.setdefault(stream, [])
            run.append(stamped)
            if is_mark or len(run) >= limit:
                entries.append((stream, codec.encode_frame(run)))
                open_runs[stream] = []
        for stream, run in open_runs.items():
            entries.extend((stream, codec.encode(m)) for m in run)
        return entries

    def _commit(self, client: Redis, batch: _Batch, *, progress: bool = True) -> None:
        pipe = self._prepare(client, batch, progress=progress)
        started = time.perf_counter()
        pipe.execute()
        self._committed(batch, time.perf_counter() - started)

    def _committed(self, batch: _Batch, seconds: float) -> None:
        self._metric(metrics.COMMIT_SECONDS).observe(seconds)
        self.end_of_data = self.end_of_data or batch.end_of_data

    def _prepare(self, client: Redis, batch: _Batch, *, progress: bool = True) -> Any:
        """The batch's transaction, ready to execute: outputs, dead letters, acks, queued
        writes, progress and (when due) the snapshot. Waits first while a consumer lags."""
        source = self._merger is None
        now_ns = wall_ns()
        entries = self._entries(batch, now_ns)
        self._backpressure(client, entries)
        pipe = client.pipeline(transaction=True)
        for stream, fields in entries:
            pipe.xadd(self.keys.stream(stream), fields)  # type: ignore[arg-type]
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
            self._metric(metrics.DEAD_LETTERS, failure.stream.value).inc()
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
        return pipe

    def _metric(self, family: Any, *labels: str) -> Any:
        """The family's child for this service (and ``labels``), looked up once."""
        key = (family, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(self.name, *labels)
        return child

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

    def _backpressure(self, client: Redis, entries: list[tuple[Stream, dict[bytes, bytes]]]) -> None:
        """Hold a commit while a consumer of its outputs lags beyond ``bus.max_lag`` entries.

        Redis is asked only when the last measured lag plus what was published since could
        exceed the bound, so a fast consumer costs no extra round trips.
        """
        counts: dict[Stream, int] = {}
        for stream, _ in entries:
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
                self._metric(metrics.CONSUMER_LAG, stream.value).set(lag)
                if lag + count <= bound or lag == 0:
                    break
                self._metric(metrics.BACKPRESSURE_WAITS).inc()
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
