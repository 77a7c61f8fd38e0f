"""The floor under the pipeline: chains of raw Redis hops that do no work.

A hop is what a service adds between its input and its output, minus the service: a blocking
XREADGROUP (up to ``batch`` entries), then one MULTI/EXEC that XADDs every entry read to the next
stream and XACKs them (the worker's commit shape). Each relay of a chain is its own process, as
each service is. Payloads are encoded Bars (the size of what ingest publishes); every burst of
``symbols`` entries ends with an encoded Watermark, as a tick does.

- ``chain_latency``: one burst in flight; from the publisher's MULTI to the sink reading the
  burst's last entry, ``hops`` relays later.
- ``chain_throughput``: a publisher process writes ticks as fast as it can (one MULTI per tick, as
  ingest does) while the chain drains them; symbol-bars per second at the sink.

    python -m bench.raw_hops [--hops 1,3,4] [--symbols 1,100,1000]

Prints a table and writes bench/results/raw_hops.json. The pipeline harness calls the same
functions on the Redis it then starts the services on (bench/pipeline.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from bench.common import percentiles, synthetic_bars, table, write_results
from ridgeline.embedded_redis import running_redis
from ridgeline_shared import codec
from ridgeline_shared.messages import Watermark

PREFIX = "rawhops"
GROUP = "relay"
STOP = b"stop"
BATCH = 512  # the services' bus.batch_size default


def _payloads() -> tuple[bytes, bytes]:
    bar = synthetic_bars(1, 1)[0][0]
    mark = Watermark(event_time=bar.event_time, trace_id="bench@wm", producer="bench")
    return codec.encode(bar)[codec.FIELD], codec.encode(mark)[codec.FIELD]


def _stream(run: str, i: int) -> str:
    return f"{PREFIX}:{run}:s{i}"


def _relay(url: str, src: str, dst: str, batch: int) -> None:
    """Forward every entry of ``src`` to ``dst``; exits after forwarding a stop entry."""
    client = redis.Redis.from_url(url)
    while True:
        reply: Any = client.xreadgroup(GROUP, "c", {src: ">"}, count=batch, block=1000)
        if not reply:
            continue
        entries = reply[0][1]
        pipe = client.pipeline(transaction=True)
        stop = False
        for _, fields in entries:
            pipe.xadd(dst, fields)
            stop = stop or STOP in fields
        pipe.xack(src, GROUP, *[entry_id for entry_id, _ in entries])
        pipe.execute()
        if stop:
            return


@contextmanager
def _chain(url: str, run: str, hops: int, batch: int = BATCH) -> Iterator[redis.Redis]:
    """``hops`` relay processes s0 -> s1 -> ... -> s<hops>; yields a client of the sink side."""
    client = redis.Redis.from_url(url)
    for i in range(hops + 1):
        client.delete(_stream(run, i))
        client.xgroup_create(_stream(run, i), GROUP, id="0", mkstream=True)
    ctx = mp.get_context("spawn")
    relays = [
        ctx.Process(target=_relay, args=(url, _stream(run, i), _stream(run, i + 1), batch), daemon=True)
        for i in range(hops)
    ]
    for relay in relays:
        relay.start()
    try:
        yield client
    finally:
        client.xadd(_stream(run, 0), {STOP: b"1"})
        for relay in relays:
            relay.join(10)
            if relay.is_alive():
                relay.kill()
        client.delete(*[_stream(run, i) for i in range(hops + 1)])
        client.close()


def _drain(client: redis.Redis, stream: str, count: int, timeout: float = 60.0) -> int:
    """Read ``count`` entries from the sink stream; returns how many arrived."""
    got = 0
    deadline = time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        reply: Any = client.xreadgroup(GROUP, "sink", {stream: ">"}, count=10_000, block=1000)
        for _, entries in reply or []:
            got += len(entries)
            if entries:
                client.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
    return got


def chain_latency(url: str, hops: int, symbols: int, bursts: int, warmup: int = 20) -> dict[str, Any]:
    """Latency of a burst of ``symbols`` entries (plus its watermark) through ``hops`` raw hops."""
    bar, mark = _payloads()
    run = f"lat{hops}x{symbols}"
    samples: list[int] = []
    with _chain(url, run, hops) as client:
        sink = _stream(run, hops)
        for i in range(warmup + bursts):
            pipe = client.pipeline(transaction=True)
            for _ in range(symbols):
                pipe.xadd(_stream(run, 0), {codec.FIELD: bar})
            pipe.xadd(_stream(run, 0), {codec.FIELD: mark})
            started = time.perf_counter_ns()
            pipe.execute()
            if _drain(client, sink, symbols + 1) < symbols + 1:
                raise RuntimeError(f"raw chain {run} lost a burst")
            if i >= warmup:
                samples.append(time.perf_counter_ns() - started)
    return {"hops": hops, "symbols": symbols, "bursts": bursts, **percentiles(samples)}


def _publish(url: str, stream: str, symbols: int, ticks: int, started: Any) -> None:
    bar, mark = _payloads()
    client = redis.Redis.from_url(url)
    started.value = time.time()
    for _ in range(ticks):
        pipe = client.pipeline(transaction=True)
        for _ in range(symbols):
            pipe.xadd(stream, {codec.FIELD: bar})
        pipe.xadd(stream, {codec.FIELD: mark})
        pipe.execute()


def chain_throughput(url: str, hops: int, symbols: int, ticks: int) -> dict[str, Any]:
    """Symbol-bars per second through ``hops`` raw hops while a publisher writes ``ticks`` ticks."""
    run = f"tp{hops}x{symbols}"
    ctx = mp.get_context("spawn")
    started = ctx.Value("d", 0.0)
    with _chain(url, run, hops) as client:
        publisher = ctx.Process(target=_publish, args=(url, _stream(run, 0), symbols, ticks, started))
        publisher.start()
        total = ticks * (symbols + 1)
        got = _drain(client, _stream(run, hops), total, timeout=600)
        ended = time.time()
        publisher.join()
    if got < total:
        raise RuntimeError(f"raw chain {run}: {got} of {total} entries arrived")
    seconds = ended - started.value
    rate = symbols * ticks / seconds
    return {
        "hops": hops,
        "symbols": symbols,
        "ticks": ticks,
        "seconds": seconds,
        "symbol_bars_per_s": rate,
        "us_per_symbol_bar": 1e6 / rate,
    }


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hops", default="1,3,4", help="chain lengths for latency")
    parser.add_argument("--symbols", default="1,100,1000", help="entries per burst")
    parser.add_argument("--bursts", type=int, default=300)
    args = parser.parse_args()
    latency: list[dict[str, Any]] = []
    throughput: list[dict[str, Any]] = []
    with running_redis(aof=True) as server:
        for symbols in _ints(args.symbols):
            bursts = max(30, args.bursts * 100 // max(100, symbols))
            latency += [chain_latency(server.url, hops, symbols, bursts) for hops in _ints(args.hops)]
            throughput.append(chain_throughput(server.url, 4, symbols, max(20, 20_000 // (symbols + 1))))
    path = write_results("raw_hops", {"latency": latency, "throughput": throughput, "params": vars(args)})
    rows: list[tuple[str, ...]] = [("hops", "symbols", "p50 ms", "p99 ms", "p99.9 ms")]
    rows += [
        (str(r["hops"]), str(r["symbols"]), f"{r['p50_us'] / 1e3:.2f}", f"{r['p99_us'] / 1e3:.2f}",
         f"{r['p999_us'] / 1e3:.2f}")
        for r in latency
    ]  # fmt: skip
    print(table(rows))
    rows = [("hops", "symbols", "symbol-bars/s")]
    rows += [(str(r["hops"]), str(r["symbols"]), f"{r['symbol_bars_per_s']:,.0f}") for r in throughput]
    print(table(rows))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
