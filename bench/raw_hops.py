"""The floor under the pipeline: chains of raw Redis hops that do no work.

A hop is what a service adds between its input and its output, minus the service: a blocking
XREADGROUP (up to ``batch`` entries), then one MULTI/EXEC that XADDs every entry read to the next
stream and XACKs them (the worker's commit shape). Each relay of a chain is its own process, as
each service is. Payloads are encoded Bars (the size of what ingest publishes); every burst of
``symbols`` entries ends with an encoded Watermark, as a tick does. ``framed`` sends each burst as
one entry holding the same bytes (a frame: what the worker publishes per tick and stream), so the
floor can be taken both per message and per frame.

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


def _burst(symbols: int, framed: bool) -> list[dict[bytes, bytes]]:
    """The entries of one burst: ``symbols`` encoded bars and a watermark, or one frame of them."""
    bar = synthetic_bars(1, 1)[0][0]
    mark = Watermark(event_time=bar.event_time, trace_id="bench@wm", producer="bench")
    if framed:
        return [codec.encode_frame([*([bar] * symbols), mark])]
    return [codec.encode(bar)] * symbols + [codec.encode(mark)]


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


def chain_latency(
    url: str, hops: int, symbols: int, bursts: int, warmup: int = 20, framed: bool = False
) -> dict[str, Any]:
    """Latency of a burst of ``symbols`` bars (plus its watermark) through ``hops`` raw hops."""
    burst = _burst(symbols, framed)
    run = f"lat{hops}x{symbols}{'f' if framed else ''}"
    samples: list[int] = []
    with _chain(url, run, hops) as client:
        sink = _stream(run, hops)
        for i in range(warmup + bursts):
            pipe = client.pipeline(transaction=True)
            for fields in burst:
                pipe.xadd(_stream(run, 0), fields)  # type: ignore[arg-type]
            started = time.perf_counter_ns()
            pipe.execute()
            if _drain(client, sink, len(burst)) < len(burst):
                raise RuntimeError(f"raw chain {run} lost a burst")
            if i >= warmup:
                samples.append(time.perf_counter_ns() - started)
    return {"hops": hops, "symbols": symbols, "bursts": bursts, "framed": framed, **percentiles(samples)}


def _publish(url: str, stream: str, symbols: int, ticks: int, framed: bool, started: Any) -> None:
    burst = _burst(symbols, framed)
    client = redis.Redis.from_url(url)
    started.value = time.time()
    for _ in range(ticks):
        pipe = client.pipeline(transaction=True)
        for fields in burst:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        pipe.execute()


def chain_throughput(url: str, hops: int, symbols: int, ticks: int, framed: bool = False) -> dict[str, Any]:
    """Symbol-bars per second through ``hops`` raw hops while a publisher writes ``ticks`` ticks."""
    run = f"tp{hops}x{symbols}{'f' if framed else ''}"
    ctx = mp.get_context("spawn")
    started = ctx.Value("d", 0.0)
    with _chain(url, run, hops) as client:
        publisher = ctx.Process(target=_publish, args=(url, _stream(run, 0), symbols, ticks, framed, started))
        publisher.start()
        total = ticks * len(_burst(symbols, framed))
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
        "framed": framed,
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
            for framed in (False, True):
                latency += [
                    chain_latency(server.url, hops, symbols, bursts, framed=framed)
                    for hops in _ints(args.hops)
                ]
                ticks = max(20, 20_000 // (symbols + 1))
                throughput.append(chain_throughput(server.url, 4, symbols, ticks, framed=framed))
    path = write_results("raw_hops", {"latency": latency, "throughput": throughput, "params": vars(args)})
    rows: list[tuple[str, ...]] = [("hops", "symbols", "entries", "p50 ms", "p99 ms", "p99.9 ms")]
    rows += [
        (str(r["hops"]), str(r["symbols"]), "frame" if r["framed"] else "per message",
         f"{r['p50_us'] / 1e3:.2f}", f"{r['p99_us'] / 1e3:.2f}", f"{r['p999_us'] / 1e3:.2f}")
        for r in latency
    ]  # fmt: skip
    print(table(rows))
    rows = [("hops", "symbols", "entries", "symbol-bars/s")]
    rows += [
        (str(r["hops"]), str(r["symbols"]), "frame" if r["framed"] else "per message",
         f"{r['symbol_bars_per_s']:,.0f}")
        for r in throughput
    ]  # fmt: skip
    print(table(rows))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
