"""The delivery contract on a real Redis: exactly-once outputs across kill -9, dead letters,
trimming that keeps unacknowledged entries, back-pressure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from ridgeline.replay import end_of_data
from ridgeline_shared import codec
from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import DeadLetter, Predictions, Watermark
from ridgeline_shared.runtime import bus
from ridgeline_shared.runtime.app import create_app
from ridgeline_shared.runtime.service import Outbox, Service
from ridgeline_shared.runtime.worker import Worker
from tests.support.bars import publish_ticks, real_bars
from tests.support.counting_service import CountingService
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
KEYS = Keys()


def outputs(client: redis_lib.Redis) -> list[Predictions]:
    entries = client.xrange(KEYS.stream(Stream.PREDICTIONS))
    decoded = [m for _, fields in entries for m in codec.messages_of(Stream.PREDICTIONS, fields)]
    return [m for m in decoded if isinstance(m, Predictions)]


def ended(client: redis_lib.Redis) -> bool:
    return end_of_data(client, KEYS, Stream.PREDICTIONS)


@pytest.fixture
def worker_factory(redis_url: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(service_cls: type[Service] = CountingService, **settings: Any) -> Worker:
        worker = Worker(service_cls(ServiceSettings(redis_url=redis_url, **settings)))
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def spawn_counter(redis_url: str, slow_ms: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RIDGELINE_REDIS_URL": redis_url,
        "RIDGELINE_HTTP__PORT": "0",
        "RIDGELINE_BUS__SNAPSHOT_EVERY_TICKS": "7",
        "RIDGELINE_BUS__BATCH_SIZE": "16",
        "COUNTER_SLOW_MS": str(slow_ms),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.counting_service"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("frames", [False, True], ids=["entries", "frames"])
def test_kill_9_mid_batch_gives_every_output_exactly_once(
    redis_url: str, redis_client: redis_lib.Redis, frames: bool
) -> None:
    bars = [*real_bars("ETHBTC", 120), *real_bars("LTCBTC", 120)]
    publish_ticks(redis_client, KEYS, bars, frames=frames)
    for _ in range(3):
        process = spawn_counter(redis_url, slow_ms=3)
        target = len(outputs(redis_client)) + 20
        wait_for(
            lambda t=target: len(outputs(redis_client)) > t or ended(redis_client),
            "progress",
        )
        process.send_signal(signal.SIGKILL)
        process.wait()
    process = spawn_counter(redis_url, slow_ms=0)
    try:
        wait_for(lambda: ended(redis_client), "end of data")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    produced = outputs(redis_client)
    counts = Counter(m.trace_id for m in produced)
    assert len(produced) == len(bars)
    assert max(counts.values()) == 1
    # State survived the kills: the n-th bar of a symbol carries count n, as in an uninterrupted run.
    for symbol in ("ETHBTC", "LTCBTC"):
        assert [m.entries[0].raw for m in produced if m.symbol == symbol] == [float(i) for i in range(1, 121)]
    assert redis_client.xpending(KEYS.stream(Stream.BARS), "counter")["pending"] == 0


def test_malformed_entries_go_to_dead_letters_and_the_consumer_goes_on(
    redis_client: redis_lib.Redis, worker_factory: Callable[..., Worker]
) -> None:
    stream = KEYS.stream(Stream.BARS)
    good = list(real_bars("ETHBTC", 3))
    hostile: list[dict[bytes, bytes]] = [
        {b"x": b"no m field"},
        {codec.FIELD: b"not json"},
        {codec.FIELD: b'{"type": "bar", "close": NaN}'},
        {codec.FIELD: good[0].model_copy(update={"schema_version": 9}).model_dump_json().encode()},
        {codec.FIELD: good[0].model_dump_json().replace('"high":', '"high": 1e300, "x":').encode()},
        {codec.FIELD: b"[" * 100_000},
    ]
    redis_client.xadd(stream, codec.encode(good[0]))  # type: ignore[arg-type]
    for fields in hostile:
        redis_client.xadd(stream, fields)  # type: ignore[arg-type]
    publish_ticks(redis_client, KEYS, good[1:])
    worker = worker_factory()
    wait_for(lambda: ended(redis_client), "end of data")
    letters = [
        codec.decode(Stream.DEAD_LETTERS, fields)
        for _, fields in redis_client.xrange(KEYS.stream(Stream.DEAD_LETTERS))
    ]
    assert len(letters) == len(hostile)
    assert all(isinstance(d, DeadLetter) and d.stream == stream and d.error for d in letters)
    assert [m.trace_id for m in outputs(redis_client)] == [b.trace_id for b in good]
    assert worker.alive and worker.dead_letters == len(hostile)


def test_a_frame_s_invalid_message_is_dead_lettered_alone(
    redis_client: redis_lib.Redis, worker_factory: Callable[..., Worker]
) -> None:
    stream = KEYS.stream(Stream.BARS)
    bars = list(real_bars("ETHBTC", 3))
    items = [json.loads(b.model_dump_json()) for b in bars[:2]]
    items.insert(1, {**items[0], "trace_id": "poisoned", "high": -5})
    mark = Watermark(event_time=bars[1].event_time, trace_id="wm", producer="test")
    items.append(json.loads(mark.model_dump_json()))
    redis_client.xadd(stream, {codec.FRAME_FIELD: json.dumps(items).encode()})
    publish_ticks(redis_client, KEYS, bars[2:], frames=True)
    worker = worker_factory()
    wait_for(lambda: ended(redis_client), "end of data")
    (letter,) = [
        codec.decode(Stream.DEAD_LETTERS, f) for _, f in redis_client.xrange(KEYS.stream(Stream.DEAD_LETTERS))
    ]
    assert isinstance(letter, DeadLetter) and letter.entry_id.endswith("#1") and "high" in letter.error
    assert json.loads(letter.fields["m"])["trace_id"] == "poisoned"
    assert [m.trace_id for m in outputs(redis_client)] == [b.trace_id for b in bars]
    assert redis_client.xpending(stream, "counter")["pending"] == 0
    assert worker.dead_letters == 1


def test_handler_failure_dead_letters_after_max_attempts(
    redis_client: redis_lib.Redis, worker_factory: Callable[..., Worker]
) -> None:
    bars = list(real_bars("ETHBTC", 4))
    bars[1] = bars[1].model_copy(update={"volume": 13.0})  # the counting service's poison value
    publish_ticks(redis_client, KEYS, bars)
    worker_factory(bus={"max_attempts": 3})
    wait_for(lambda: ended(redis_client), "end of data")
    (letter,) = [
        codec.decode(Stream.DEAD_LETTERS, f) for _, f in redis_client.xrange(KEYS.stream(Stream.DEAD_LETTERS))
    ]
    assert isinstance(letter, DeadLetter) and letter.attempts == 3 and "poison" in letter.error
    assert [m.entries[0].raw for m in outputs(redis_client)] == [1.0, 2.0, 3.0]


def test_trimming_never_drops_an_unacknowledged_entry(redis_client: redis_lib.Redis) -> None:
    stream = KEYS.stream(Stream.BARS)
    bus.ensure_group(redis_client, stream, "slow")
    bus.ensure_group(redis_client, stream, "fast")
    ids = [redis_client.xadd(stream, {b"m": str(i).encode()}).decode() for i in range(100)]
    slow = bus.read_group(redis_client, "slow", "s-0", {stream: ">"}, 10, None)  # reads 10, acks 3
    redis_client.xack(stream, "slow", *[eid for eid, _ in slow[0][1][:3]])
    fast = bus.read_group(redis_client, "fast", "f-0", {stream: ">"}, 100, None)
    redis_client.xack(stream, "fast", *[eid for eid, _ in fast[0][1]])
    removed = bus.trim(redis_client, stream, retain=5, keep_from=[])
    remaining = [eid.decode() for eid, _ in redis_client.xrange(stream)]
    assert removed == 3  # only what every group has acknowledged
    assert remaining == ids[3:]
    pending = redis_client.xpending_range(stream, "slow", min="-", max="+", count=100)
    assert {p["message_id"].decode() for p in pending} <= set(remaining)


def test_a_group_that_has_read_everything_has_no_lag_whatever_redis_reports(
    redis_client: redis_lib.Redis,
) -> None:
    stream = KEYS.stream(Stream.BARS)
    bus.ensure_group(redis_client, stream, "caught-up")
    for i in range(40):
        redis_client.xadd(stream, {b"m": str(i).encode()})
    bus.read_group(redis_client, "caught-up", "c", {stream: ">"}, 100, None)
    # What a restart from the AOF can leave: entries-read behind the last delivered id.
    redis_client.execute_command("XGROUP", "SETID", stream, "caught-up", "$", "ENTRIESREAD", 5)
    assert redis_client.xinfo_groups(stream)[0]["lag"] == 35
    assert bus.group_lag(redis_client, stream, 100) == 0
    redis_client.xadd(stream, {b"m": b"new"})
    assert bus.group_lag(redis_client, stream, 100) >= 1  # a real lag still counts


class _FloodSource(Service):
    """Publishes one bar per poll, forever: lets the test watch back-pressure hold it."""

    name: ClassVar[str] = "flood"
    outputs: ClassVar[tuple[Stream, ...]] = (Stream.BARS,)

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.bars = list(real_bars("ETHBTC", 2000))
        self.cursor = 0

    def poll(self, out: Outbox) -> bool:
        if self.cursor >= len(self.bars):
            return False
        out.emit(Stream.BARS, self.bars[self.cursor])
        self.cursor += 1
        return True

    def snapshot(self) -> bytes:
        return str(self.cursor).encode()

    def restore(self, data: bytes | None) -> None:
        self.cursor = int(data or 0)


def test_back_pressure_bounds_a_lagging_consumer(
    redis_client: redis_lib.Redis, worker_factory: Callable[..., Worker]
) -> None:
    stream = KEYS.stream(Stream.BARS)
    bus.ensure_group(redis_client, stream, "sleepy")
    worker = worker_factory(_FloodSource, bus={"max_lag": 50})
    wait_for(lambda: worker.status()["output_lag"].get("bars", 0) >= 50, "lag at the bound")
    time.sleep(0.5)  # give an unbounded producer time to run away; the assertion is on counts
    held = redis_client.xlen(stream)
    assert held == 50  # exactly the bound: the producer waits instead of growing the stream
    read = bus.read_group(redis_client, "sleepy", "c", {stream: ">"}, 10_000, None)
    redis_client.xack(stream, "sleepy", *[eid for eid, _ in read[0][1]])
    wait_for(lambda: redis_client.xlen(stream) > held, "producer resumes once the consumer catches up")


def test_a_source_is_snapshotted_with_every_commit(
    redis_client: redis_lib.Redis, worker_factory: Callable[..., Worker]
) -> None:
    """A restarted source resumes from the snapshot committed with its last published entry."""
    worker = worker_factory(_FloodSource, bus={"max_lag": 40})
    stream = KEYS.stream(Stream.BARS)
    bus.ensure_group(redis_client, stream, "sleepy")  # holds the source at the lag bound
    wait_for(lambda: worker.status()["output_lag"].get("bars", 0) >= 40, "the source held at the bound")
    worker.stop()
    cursor = int(redis_client.hget(KEYS.snapshot("flood"), "state") or 0)
    assert cursor == redis_client.xlen(stream)


def test_control_plane_requires_the_token(redis_url: str) -> None:
    open_worker = Worker(CountingService(ServiceSettings(redis_url=redis_url)))
    with TestClient(create_app(open_worker)) as client:
        assert client.post("/control/pause").status_code == 403  # no token configured: refuse
    worker = Worker(CountingService(ServiceSettings(redis_url=redis_url, http={"control_token": "s3cret"})))
    worker.start()
    try:
        with TestClient(create_app(worker)) as client:
            assert client.get("/health").json()["status"] == "ok"
            assert client.post("/control/pause").status_code == 401
            assert client.post("/control/pause", headers={"Authorization": "Bearer nope"}).status_code == 401
            auth = {"Authorization": "Bearer s3cret"}
            assert client.post("/control/explode", headers=auth).status_code == 404
            assert client.post("/control/pause", headers=auth).json()["result"] == {"paused": True}
            assert client.get("/status").json()["runtime"]["paused"] is True
            assert "ridgeline_ticks_total" in client.get("/metrics").text
            wait_for(lambda: client.get("/ready").status_code == 200, "ready")
    finally:
        worker.stop()
