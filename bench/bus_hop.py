"""One bus hop (publish -> handler) through Ridgeline's worker, against a raw redis-py
XADD / XREADGROUP loop measured in the same run on the same private Redis.

    python -m bench.bus_hop [--n 2000] [--backlog 20000]

Latency is ping-pong (one tick in flight), so it is the hop's floor, not a queueing figure: from
just before the publisher's XADD (payload already encoded, in both loops) to the handler (ours) or
the XREADGROUP reply (raw). A tick is one frame (its bar and watermark), as the worker publishes.
Throughput drains a backlog as fast as the consumer can (read, decode, merge, handle, commit).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import ClassVar

import redis

from bench.common import percentiles, synthetic_bars, table, write_results
from ridgeline.embedded_redis import running_redis
from ridgeline_shared import codec
from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Bar, Message, Watermark
from ridgeline_shared.runtime.service import Input, Outbox, Service
from ridgeline_shared.runtime.worker import Worker

KEYS = Keys("bench")


class _Sink(Service):
    """Records when each bar reached its handler; publishes nothing but its watermarks."""

    name: ClassVar[str] = "sink"
    inputs: ClassVar[tuple[Input, ...]] = (Input(Stream.BARS),)

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.latencies: list[int] = []
        self.sent_ns: int | None = None  # set by the publisher just before its XADD
        self.seen = 0
        self.arrived = threading.Event()
        self.done = threading.Event()

    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        if self.sent_ns is not None:
            self.latencies.append(time.perf_counter_ns() - self.sent_ns)
            self.sent_ns = None
        self.seen += 1
        self.arrived.set()

    def on_end_of_data(self, out: Outbox) -> None:
        self.done.set()

    def snapshot(self) -> bytes:
        return b""

    def restore(self, data: bytes | None) -> None:
        return None


def _tick_fields(bars: list[Bar]) -> dict[bytes, bytes]:
    """A tick as the worker publishes it: one frame holding its bars and its watermark."""
    t = bars[0].event_time
    return codec.encode_frame([*bars, Watermark(event_time=t, trace_id=f"wm@{t}", producer="bench")])


def raw_latency(client: redis.Redis, n: int) -> list[int]:
    """Floor: XADD then a blocking XREADGROUP in another thread, one message at a time."""
    stream = "bench:raw:lat"
    client.delete(stream)
    client.xgroup_create(stream, "g", id="0", mkstream=True)
    samples: list[int] = []
    got = threading.Event()

    def consume() -> None:
        reader = redis.Redis(connection_pool=client.connection_pool)
        while len(samples) < n:
            reply = reader.xreadgroup("g", "c", {stream: ">"}, count=1, block=1000)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    samples.append(time.perf_counter_ns() - int(fields[b"t"]))
                    reader.xack(stream, "g", entry_id)
                    got.set()

    thread = threading.Thread(target=consume)
    thread.start()
    payload = codec.encode(synthetic_bars(1, 1)[0][0])[codec.FIELD]
    for _ in range(n):
        got.clear()
        client.xadd(stream, {b"t": str(time.perf_counter_ns()).encode(), codec.FIELD: payload})
        got.wait(5)
    thread.join()
    return samples


def raw_throughput(client: redis.Redis, backlog: int, batch: int) -> float:
    stream = "bench:raw:tp"
    client.delete(stream)
    client.xgroup_create(stream, "g", id="0", mkstream=True)
    payload = codec.encode(synthetic_bars(1, 1)[0][0])
    pipe = client.pipeline(transaction=False)
    for _ in range(backlog):
        pipe.xadd(stream, payload)  # type: ignore[arg-type]
    pipe.execute()
    started = time.perf_counter()
    done = 0
    while done < backlog:
        reply = client.xreadgroup("g", "c", {stream: ">"}, count=batch, block=1000)
        for _, entries in reply or []:
            client.xack(stream, "g", *[eid for eid, _ in entries])
            done += len(entries)
    return backlog / (time.perf_counter() - started)


def ridgeline_latency(client: redis.Redis, url: str, n: int) -> list[int]:
    settings = ServiceSettings(redis_url=url, prefix="bench", bus={"block_ms": 1000})
    sink = _Sink(settings)
    worker = Worker(sink)
    worker.start()
    worker.started.wait(10)
    stream = KEYS.stream(Stream.BARS)
    for tick in synthetic_bars(1, n):
        fields = _tick_fields(tick)  # encoded before the clock starts, as the raw loop's payload
        sink.arrived.clear()
        sink.sent_ns = time.perf_counter_ns()
        client.xadd(stream, fields)  # type: ignore[arg-type]
        sink.arrived.wait(5)
    worker.stop()
    return sink.latencies


def ridgeline_throughput(client: redis.Redis, url: str, backlog: int, batch: int) -> float:
    client.flushdb()
    stream = KEYS.stream(Stream.BARS)
    ticks = synthetic_bars(1, backlog)
    pipe = client.pipeline(transaction=False)
    for tick in ticks:
        pipe.xadd(stream, _tick_fields(tick))  # type: ignore[arg-type]
    last = ticks[-1][0].event_time
    pipe.xadd(
        stream, codec.encode(Watermark(event_time=last, trace_id="eod", producer="bench", end_of_data=True))
    )  # type: ignore[arg-type]
    pipe.execute()
    sink = _Sink(ServiceSettings(redis_url=url, prefix="bench", bus={"batch_size": batch}))
    worker = Worker(sink)
    started = time.perf_counter()
    worker.start()
    sink.done.wait(600)
    elapsed = time.perf_counter() - started
    worker.stop()
    return backlog / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="ping-pong messages for latency")
    parser.add_argument("--backlog", type=int, default=20000, help="messages drained for throughput")
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    with running_redis(aof=False) as server:
        client = redis.Redis.from_url(server.url)
        raw_lat = percentiles(raw_latency(client, args.n))
        ours_lat = percentiles(ridgeline_latency(client, server.url, args.n))
        raw_tp = raw_throughput(client, args.backlog, args.batch)
        ours_tp = ridgeline_throughput(client, server.url, args.backlog, args.batch)
    figures = {
        "redis_version": ".".join(map(str, server.version)),
        "latency_raw": raw_lat,
        "latency_ridgeline": ours_lat,
        "latency_ratio_p50": ours_lat["p50_us"] / raw_lat["p50_us"],
        "latency_ratio_p99": ours_lat["p99_us"] / raw_lat["p99_us"],
        "throughput_raw_msgs_per_s": raw_tp,
        "throughput_ridgeline_msgs_per_s": ours_tp,
        "throughput_ratio": ours_tp / raw_tp,
        "params": vars(args),
    }
    path = write_results("bus_hop", figures)
    rows = [
        ("", "raw redis-py", "ridgeline worker", "ratio"),
        (
            "hop p50 (us)",
            f"{raw_lat['p50_us']:.0f}",
            f"{ours_lat['p50_us']:.0f}",
            f"{figures['latency_ratio_p50']:.2f}x",
        ),
        (
            "hop p99 (us)",
            f"{raw_lat['p99_us']:.0f}",
            f"{ours_lat['p99_us']:.0f}",
            f"{figures['latency_ratio_p99']:.2f}x",
        ),
        ("throughput (msg/s)", f"{raw_tp:,.0f}", f"{ours_tp:,.0f}", f"{figures['throughput_ratio']:.2f}x"),
    ]
    print(table(rows))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
