"""Executor throughput: the service's cost per symbol-bar and per tick, on the in-memory paper
venue (the in-process backtest) and on the Redis one (the running system), against baselines
measured in the same run: decoding the tick's messages (what the worker pays before any handler)
and one raw Redis round trip.

    python -m bench.executor_throughput [--symbols 1,100,1000] [--scale 1.0] [--venues memory,redis]
                                        [--order-every N] [--gc-threshold N] [--name NAME]

Every tick carries one bar per symbol and, by default, one market order request per symbol (buys
and sells in turn), so each bar fills the order made at the tick before and every tick submits
as many orders as it has bars: the executor's heaviest steady load (``--order-every N``: each
symbol orders every N ticks, staggered, for the cost of the bars apart from the orders). A tick is driven as
the worker drives it: ``on_message`` for the bars, then for the requests, ``on_tick_end``; on
Redis the tick is then committed as the worker commits it (executions XADDed, the log's ops, the
snapshot, one MULTI/EXEC). Figures are wall time per tick (mean) and per symbol-bar, the
process's CPU per symbol-bar (the Redis server's own CPU is not in it) and the Redis round trips
the handlers make per tick (the worker's commit apart). Writes
bench/results/executor_throughput.json.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis
from redis.connection import Connection

from bench.common import synthetic_bars, table, write_results
from ridgeline.embedded_redis import running_redis
from ridgeline_executor.config import ExecutorConfig, ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_shared import codec
from ridgeline_shared.ids import client_order_id
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, OrderRequest, Watermark
from ridgeline_shared.messages.enums import OrderSide
from ridgeline_shared.runtime.service import Outbox

TICKS = {1: 400, 100: 40, 1000: 8}
WARMUP = {1: 40, 100: 5, 1000: 2}


def requests_for(bars: list[Bar], tick: int, every: int = 1) -> list[OrderRequest]:
    """A market order per symbol every ``every`` ticks (symbols staggered), made at the bar:
    buys and sells in turn."""
    out = []
    for s, bar in enumerate(bars):
        if (tick + s) % every:
            continue
        side = OrderSide.BUY if (tick + s) // every % 2 == 0 else OrderSide.SELL
        qty = Decimal(1)
        out.append(
            OrderRequest(
                event_time=bar.event_time, trace_id=f"req@{bar.symbol}#{tick}",
                client_order_id=client_order_id("bench", bar.symbol, bar.event_time, 0),
                strategy_id="bench", symbol=bar.symbol, side=side, quantity=qty,
                target_position=qty if side is OrderSide.BUY else Decimal(0),
                reference_price=Decimal(repr(bar.close)).quantize(Decimal("1e-12")), intent_seq=0,
                horizon="5m", reason="bench",
            )
        )  # fmt: skip
    return out


def settings(url: str) -> ExecutorSettings:
    # Cash enough that no buy is refused for buying power: every request becomes an order.
    paper = {"initial_cash": "1000000000"}
    return ExecutorSettings(
        redis_url=url, mode="paper", strategy_id="bench", executor=ExecutorConfig(paper=paper)
    )


class RoundTrips:
    """Counts what the process sends to Redis in one go (a command, a pipeline, a script), i.e.
    its round trips, while ``counting``."""

    def __init__(self) -> None:
        self.counting = False
        self.sent = 0
        send = Connection.send_packed_command
        counter = self

        def counted(conn: Connection, command: Any, check_health: bool = True) -> None:
            if counter.counting:
                counter.sent += 1
            send(conn, command, check_health)

        Connection.send_packed_command = counted  # type: ignore[method-assign]
        self._send = send

    def close(self) -> None:
        Connection.send_packed_command = self._send  # type: ignore[method-assign]


class Driver:
    """One executor, fed tick by tick as the worker feeds it; times each tick's parts."""

    def __init__(self, client: redis.Redis | None, url: str) -> None:
        self.client = client
        self.service = ExecutorService(settings(url))
        self.service.restore(None)
        self.service.on_start(client)
        self.handler_ns = 0
        self.commit_ns = 0
        self.snapshot_ns = 0
        self.executions = 0
        self.round_trips = RoundTrips()

    def reset_counters(self) -> None:
        self.handler_ns = self.commit_ns = self.snapshot_ns = self.executions = 0
        self.round_trips.sent = 0

    def tick(self, t: datetime, bars: list[Bar], requests: list[OrderRequest]) -> None:
        service, out = self.service, Outbox()
        started = time.perf_counter_ns()
        for bar in bars:
            service.on_message(Stream.BARS, bar, out)
        for request in requests:
            service.on_message(Stream.ORDERS, request, out)
        self.round_trips.counting = True
        try:
            service.on_tick_end(t, out)
        finally:
            self.round_trips.counting = False
        handled = time.perf_counter_ns()
        self.handler_ns += handled - started
        self.executions += len(out.messages)
        if self.client is None:
            return
        # The worker's commit: the tick's outputs, its ops, the snapshot, one MULTI/EXEC.
        out.emit(Stream.EXECUTIONS, Watermark(event_time=t, trace_id=f"wm@{t}", producer="executor"))
        pipe = self.client.pipeline(transaction=True)
        keys = service.keys
        for stream, message in out.messages:
            pipe.xadd(keys.stream(stream), codec.encode(message))  # type: ignore[arg-type]
        for op in out.ops:
            op(pipe)
        snap_started = time.perf_counter_ns()
        state = service.snapshot()
        self.snapshot_ns += time.perf_counter_ns() - snap_started
        pipe.hset(keys.snapshot(service.name), "state", state)
        pipe.execute()
        self.commit_ns += time.perf_counter_ns() - handled


def make_ticks(symbols: int, n: int, every: int = 1) -> list[tuple[datetime, list[Bar], list[OrderRequest]]]:
    return [
        (bars[0].event_time, bars, requests_for(bars, i, every))
        for i, bars in enumerate(synthetic_bars(symbols, n))
    ]


def decode_baseline(ticks: list[tuple[datetime, list[Bar], list[OrderRequest]]]) -> float:
    """ns per symbol-bar of decoding the tick's bar and order messages (the worker's floor)."""
    encoded = [([codec.encode(b) for b in bars], [codec.encode(r) for r in reqs]) for _, bars, reqs in ticks]
    codec.decode(Stream.BARS, encoded[0][0][0])  # the first decode builds the validators
    codec.decode(Stream.ORDERS, encoded[0][1][0])
    started = time.perf_counter_ns()
    n = 0
    for bar_fields, req_fields in encoded:
        for fields in bar_fields:
            codec.decode(Stream.BARS, fields)
        for fields in req_fields:
            codec.decode(Stream.ORDERS, fields)
        n += len(bar_fields)
    return (time.perf_counter_ns() - started) / n


def round_trip_us(client: redis.Redis, n: int = 2000) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter_ns()
        client.ping()
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return samples[len(samples) // 2] / 1e3


@contextmanager
def venue_client(kind: str) -> Iterator[tuple[redis.Redis | None, str]]:
    if kind == "memory":
        yield None, "redis://unused:6379/0"
        return
    with running_redis(aof=False) as server:
        client = redis.Redis.from_url(server.url)
        try:
            yield client, server.url
        finally:
            client.close()


def run_case(kind: str, symbols: int, scale: float, every: int = 1) -> dict[str, Any]:
    warm, n = WARMUP[symbols], max(2, int(TICKS[symbols] * scale))
    ticks = make_ticks(symbols, warm + n, every)
    with venue_client(kind) as (client, url):
        driver = Driver(client, url)
        for t, bars, reqs in ticks[:warm]:
            driver.tick(t, bars, reqs)
        driver.reset_counters()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for t, bars, reqs in ticks[warm:]:
            driver.tick(t, bars, reqs)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        round_trips = driver.round_trips.sent / n
        driver.round_trips.close()
        rtt = round_trip_us(client) if client is not None else None
    decode_ns = decode_baseline(ticks[warm : warm + min(n, 50)])
    bars_total = n * symbols
    return {
        "venue": kind,
        "symbols": symbols,
        "ticks": n,
        "tick_us": wall / n * 1e6,
        "symbol_bar_us": wall / bars_total * 1e6,
        "cpu_symbol_bar_us": cpu / bars_total * 1e6,
        "handler_tick_us": driver.handler_ns / n / 1e3,
        "handler_round_trips_per_tick": round_trips,
        "commit_tick_us": driver.commit_ns / n / 1e3,
        "snapshot_tick_us": driver.snapshot_ns / n / 1e3,
        "orders_per_symbol_bar": sum(len(r) for _, _, r in ticks[warm:]) / bars_total,
        "executions_per_tick": driver.executions / n,
        "baseline_decode_symbol_bar_us": decode_ns / 1e3,
        "baseline_redis_rtt_us": rtt,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", default="1,100,1000")
    parser.add_argument("--venues", default="memory,redis")
    parser.add_argument("--scale", type=float, default=1.0, help="scales the measured ticks")
    parser.add_argument("--order-every", type=int, default=1, help="each symbol orders every N ticks")
    parser.add_argument("--name", default="executor_throughput", help="results file name")
    parser.add_argument(
        "--gc-threshold", type=int, default=None, help="the collector's generation-0 threshold (default: 700)"
    )
    args = parser.parse_args()
    if args.gc_threshold is not None:
        # The executor's state is many small objects (orders, events, Decimals): how often the
        # collector walks them is a large share of its time at 1,000 symbols.
        gc.set_threshold(args.gc_threshold, 50, 100)
    cases = []
    for symbols in (int(s) for s in args.symbols.split(",")):
        for kind in args.venues.split(","):
            cases.append(run_case(kind, symbols, args.scale, args.order_every))
            c = cases[-1]
            per_bar, per_tick = c["symbol_bar_us"], c["tick_us"]
            print(f"{kind:6} {symbols:5} symbols: {per_bar:.0f} us/symbol-bar, {per_tick:.0f} us/tick")
    rows = [
        ("venue", "symbols", "orders/sym-bar", "ticks", "us/tick", "us/sym-bar", "cpu us/sym-bar"),
    ]
    rows[0] += (
        "handler us/tick",
        "handler RTs/tick",
        "commit us/tick",
        "snapshot us/tick",
        "decode us/sym-bar",
        "redis rtt us",
    )
    for c in cases:
        rtt = c["baseline_redis_rtt_us"]
        figures = (
            f"{c['orders_per_symbol_bar']:.2f}", str(c["ticks"]), f"{c['tick_us']:.0f}",
            f"{c['symbol_bar_us']:.1f}", f"{c['cpu_symbol_bar_us']:.1f}", f"{c['handler_tick_us']:.0f}",
            f"{c['handler_round_trips_per_tick']:.2f}",
            f"{c['commit_tick_us']:.0f}", f"{c['snapshot_tick_us']:.0f}",
            f"{c['baseline_decode_symbol_bar_us']:.1f}", "-" if rtt is None else f"{rtt:.0f}",
        )  # fmt: skip
        rows.append((c["venue"], str(c["symbols"]), *figures))
    print(table(rows))
    path = write_results(args.name, {"cases": cases, "params": vars(args)})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
