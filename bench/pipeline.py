"""The five services as processes on one Redis, measured against raw hops on that same Redis.

One case = one symbol count. On a fresh Redis (AOF on, as the launcher runs it), first the floor:
chains of raw hops (bench/raw_hops.py) with bursts of the case's size, each burst one frame per hop
as the services publish it (and, for comparison, one entry per bar). Then the stack, driven by
the synthetic ingest source, in phases:

1. warm-up, speed 0: the predictor emits no model output before its feature windows fill
   (~145 bars), so the first ``warmup`` ticks are cheap and excluded from every figure;
2. steady, speed 0: ``steady`` more ticks as fast as the pipeline takes them. Sustained throughput
   is symbol-bars over the executor's watermark times of the first and last steady tick; each
   service's Prometheus counters (CPU, handler, commit, entries) are read when that service
   reaches either end, so per-service costs cover the same ticks;
3. ingest is paused, the pipeline drains, then ingest resumes paced (``POST /control/start``
   with a speed): one burst of ``symbols`` bars every ``interval`` seconds, so each burst crosses
   an idle pipeline. Latency is taken from the publish times every worker writes into the trace
   of what it commits (a tick's entries and its watermark share one commit time):

   - orders out: risk's watermark of tick T on ``orders`` minus ingest's of T (3 hops);
   - order acknowledged: the executor reads a tick's orders after its bars and acknowledges them
     within the tick; ack = the executor's first execution of each order minus ingest's publish
     of the order's bar (4 hops);
   - executor turnaround: the executor's watermark of T minus risk's of T (1 hop);
   - per order: each OrderRequest's risk stamp, each order's first execution.

Memory (each service's VmRSS, Redis ``used_memory``) is sampled every second throughout.

    python -m bench.pipeline --symbols 100            # one case
    python -m bench.pipeline --inprocess --symbols 100  # the in-process ceiling alone
    python -m bench.pipeline --profile --symbols 100  # py-spy on the five services

``python -m bench.run_all`` runs the whole set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from bench.common import RESULTS, percentiles, write_results
from bench.raw_hops import chain_latency, chain_throughput
from ridgeline.embedded_redis import EmbeddedRedis, start_redis
from ridgeline.launcher import PORTS, SERVICES, Stack
from ridgeline.replay import end_of_data
from ridgeline_shared import codec
from ridgeline_shared.config import BusSettings
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Execution, Message, OrderRequest, Watermark

KEYS = Keys()
START = datetime(2024, 1, 1, tzinfo=UTC)  # the synthetic source's default start
BAR = timedelta(minutes=5)
WM_BYTES = b'"type":"watermark"'
FIELD = codec.FIELD.decode()

# What every case runs with. Costs off and small lots so risk trades on random-walk data; rate
# and loss limits out of the way so every symbol may trade; z_min_samples 5 shortens the
# standardiser's warm-up (it changes no per-message work).
BASE_ENV = {
    "RIDGELINE_MODE": "replay",
    "RIDGELINE_LOG_LEVEL": "WARNING",
    "RIDGELINE_INGEST__SOURCE": "synthetic",
    "RIDGELINE_BLENDER__COST__K1": "0",
    "RIDGELINE_BLENDER__COST__K2": "0",
    "RIDGELINE_BLENDER__COST__K3": "0",
    "RIDGELINE_MARKET__DEFAULT_SPREAD_BPS": "0",
    "RIDGELINE_PREDICTOR__Z_MIN_SAMPLES": "5",
    "RIDGELINE_RISK__INITIAL_CASH": "1000000",
    "RIDGELINE_RISK__LOT_SIZE": "0.0001",
    "RIDGELINE_RISK__NO_TRADE_BAND": "0",
    "RIDGELINE_RISK__LIMITS__MAX_ORDER_NOTIONAL": "1000000000",
    "RIDGELINE_RISK__LIMITS__MAX_ORDERS_PER_SECOND": "1000000",
    "RIDGELINE_RISK__LIMITS__DAILY_LOSS": "1",
    "RIDGELINE_RISK__LIMITS__MAX_DRAWDOWN": "1",
}


def symbol_names(count: int) -> list[str]:
    return [f"S{i:04d}" for i in range(count)]


def case_env(symbols: int, bars: int) -> dict[str, str]:
    return {
        **BASE_ENV,
        "RIDGELINE_INGEST__SYNTHETIC__SYMBOLS": json.dumps(symbol_names(symbols)),
        "RIDGELINE_INGEST__SYNTHETIC__BARS": str(bars),
    }


def tick_index(when: datetime) -> int:
    return int((when - START) / BAR)


@dataclass(frozen=True)
class Case:
    symbols: int
    warmup: int = 150
    steady: int = 100
    # Paced bursts after the drain; 0 skips the latency phase.
    bursts: int = 0
    # Seconds between bursts; None: from the steady throughput (bursts at ~40% load).
    interval: float | None = None
    floor_bursts: int = 200
    # Seconds of py-spy on the five services at speed 0 after the latency phase; 0: none.
    profile: float = 0.0
    timeout: float = 1200.0


# -- the machine ---------------------------------------------------------------------------------
def use_free_ports(first: int = 18101) -> dict[str, int]:
    """Move this process's stacks to five free ports, so the harness runs beside a stack already
    on the launcher's 8101-8105 (the launcher reads its PORTS table when it spawns)."""
    for base in range(first, first + 1000, 10):
        try:
            for port in range(base, base + len(SERVICES)):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        PORTS.update({name: base + i for i, name in enumerate(SERVICES)})
        return dict(PORTS)
    raise RuntimeError("no five free ports for the services")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every core spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuAccount:
    """CPU of the run's own processes against the whole machine's over the same interval: what
    other work on the machine took shows up as ``foreign_cpu_s``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = [*pids, os.getpid()]
        self.started = time.monotonic()
        self.machine0 = machine_busy_s()
        self.own0 = {pid: proc_cpu_s(pid) for pid in self.pids}

    def result(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        machine = machine_busy_s() - self.machine0
        own = sum(proc_cpu_s(pid) - self.own0[pid] for pid in self.pids)
        return {
            "wall_s": round(wall, 1),
            "machine_cpu_s": round(machine, 1),
            "own_cpu_s": round(own, 1),
            "foreign_cpu_s": round(max(0.0, machine - own), 1),
            "machine_cores_busy": round(machine / wall, 2) if wall else 0.0,
            "loadavg_1m": os.getloadavg()[0],
        }


# -- observation ---------------------------------------------------------------------------------
def scrape(port: int) -> dict[str, float]:
    """The counters the harness needs from one service's /metrics, flattened."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30.0).text
    out: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name == "process_cpu_seconds_total":
                out["cpu_s"] = sample.value
            elif name == "process_resident_memory_bytes":
                out["rss_bytes"] = sample.value
            elif name.startswith("ridgeline_") and not name.endswith(("_bucket", "_created")):
                key = name.removeprefix("ridgeline_")
                if "stream" in labels:
                    key += f"[{labels['stream']}]"
                out[key] += sample.value
    out["at"] = time.time()
    return dict(out)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class MemorySampler(threading.Thread):
    """Every ``every`` seconds: each service's VmRSS and Redis' memory."""

    def __init__(self, pids: dict[str, int], url: str, every: float = 1.0) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.pids, self.every = pids, every
        self.client = redis.Redis.from_url(url)
        self.samples: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def sample(self) -> dict[str, Any]:
        info: Any = self.client.info("memory")
        row: dict[str, Any] = {"t": time.time(), **{n: rss_mb(p) for n, p in self.pids.items()}}
        row["redis_used_mb"] = info["used_memory"] / 2**20
        row["redis_rss_mb"] = info["used_memory_rss"] / 2**20
        row["ingest_tick"] = progress_tick(self.client, "ingest")
        row["executor_tick"] = progress_tick(self.client, "executor")
        return row

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.samples.append(self.sample())
            except redis.RedisError:
                return


def progress_tick(client: redis.Redis, service: str) -> int | None:
    raw: Any = client.hget(KEYS.progress(service), "tick")
    if not raw:
        return None
    return tick_index(datetime.fromisoformat(raw.decode()))


def control(stack: Stack, service: str, command: str, payload: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        f"http://127.0.0.1:{PORTS[service]}/control/{command}",
        json=payload or {},
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=120.0,
    )
    if response.status_code != 200:
        raise RuntimeError(f"POST {service} /control/{command}: {response.status_code} {response.text}")
    return response.json()


def last_id(client: redis.Redis, stream: Stream) -> str:
    got: Any = client.xrevrange(KEYS.stream(stream), count=1)
    return got[0][0].decode() if got else "0-0"


def read_messages(
    client: redis.Redis, stream: Stream, after: str = "-", marks_only: bool = False
) -> list[tuple[str, Message]]:
    """Entries after ``after`` (exclusive), decoded; ``marks_only`` skips all but watermarks
    without decoding them (bars and predictions run to hundreds of thousands of entries)."""
    out: list[tuple[str, Message]] = []
    key = KEYS.stream(stream)
    start = after if after == "-" else f"({after}"
    while True:
        chunk: Any = client.xrange(key, min=start, count=5000)
        if not chunk:
            return out
        for entry_id, fields in chunk:
            raw = fields.get(codec.FIELD) or fields.get(codec.FRAME_FIELD, b"")
            if marks_only and WM_BYTES not in raw:
                continue
            out.extend((entry_id.decode(), m) for m in codec.messages_of(stream, fields))
        start = f"({chunk[-1][0].decode()}"


def mark_times(entries: list[tuple[str, Message]], hop: str) -> dict[int, int]:
    """Tick index -> the producer's publish time (ns) of that tick's watermark."""
    out: dict[int, int] = {}
    for _, message in entries:
        if isinstance(message, Watermark) and not message.end_of_data and hop in message.trace:
            out[tick_index(message.event_time)] = message.trace[hop]
    return out


# -- one case ------------------------------------------------------------------------------------
@dataclass
class Boundaries:
    """When each service reached each phase boundary, with its counters at that moment."""

    reached: dict[str, dict[str, dict[str, float]]] = field(default_factory=lambda: defaultdict(dict))

    def record(self, phase: str, service: str) -> None:
        if phase not in self.reached[service]:
            self.reached[service][phase] = scrape(PORTS[service])


def _wait(what: str, predicate: Any, deadline: float, stack: Stack, poll: float = 0.02) -> None:
    while not predicate():
        if dead := stack.dead():
            raise RuntimeError(f"service(s) died while waiting for {what}: {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll)


def run_case(case: Case, run_dir: Path, echo: Any = print) -> dict[str, Any]:
    n = case.symbols
    # Room for ingest's overshoot past the pause (it runs up to bus.max_lag entries, one frame per
    # tick, ahead at speed 0); the run is ended by ``POST /control/stop`` once the paced bursts are out.
    total_bars = case.warmup + case.steady + case.bursts + BusSettings().max_lag + 16
    total_bars += int(case.profile * 4_000 / case.symbols)
    server: EmbeddedRedis = start_redis(run_dir / "redis")
    result: dict[str, Any] = {"case": asdict(case), "bars_per_symbol": total_bars}
    try:
        echo(f"[{n} symbols] raw-hop floor on the same Redis")
        # The floor moves the same bytes as the services: a tick's bars and watermark in one frame
        # per hop. The per-message floor (one entry per bar) is kept for comparison.
        ticks = max(20, 20_000 // (n + 1))
        floor: dict[str, Any] = {
            "throughput_4_hops": chain_throughput(server.url, 4, n, ticks, framed=True),
            "throughput_4_hops_per_message": chain_throughput(server.url, 4, n, ticks),
        }
        if case.bursts:
            bursts = max(30, case.floor_bursts * 100 // max(100, n))
            for suffix, framed in (("", True), ("_per_message", False)):
                floor[f"latency{suffix}"] = {
                    str(hops): chain_latency(server.url, hops, n, bursts, framed=framed) for hops in (1, 3, 4)
                }
        result["floor"] = floor
        result.update(_run_stack(case, run_dir, server, total_bars, echo))
    finally:
        server.stop()
    return result


def _run_stack(
    case: Case, run_dir: Path, server: EmbeddedRedis, total_bars: int, echo: Any
) -> dict[str, Any]:
    n = case.symbols
    client = redis.Redis.from_url(server.url)
    stack = Stack(
        run_dir, case_env(n, total_bars), redis_url=server.url, echo=lambda _: None, quiet_logs=True
    )
    use_free_ports()
    deadline = time.monotonic() + case.timeout
    bounds = Boundaries()
    sampler: MemorySampler | None = None
    try:
        stack.start()
        pids = {name: proc.process.pid for name, proc in stack.processes.items()}
        sampler = MemorySampler({**pids, "redis": server.process.pid}, server.url)
        sampler.start()
        account = CpuAccount([*pids.values(), server.process.pid])
        first = case.warmup
        target = case.warmup + case.steady
        paused_at: int | None = None
        echo(f"[{n} symbols] warm-up {case.warmup} ticks + steady {case.steady} ticks at speed 0")

        pauser = threading.Thread(target=_pause_at, args=(stack, server.url, target), daemon=True)
        pauser.start()

        def phase_a() -> bool:
            nonlocal paused_at
            if paused_at is None and not pauser.is_alive():
                # The source's progress record trails its last commit by one tick: the bars
                # stream's last watermark is the last tick published.
                marks = read_messages(client, Stream.BARS, _tail_id(client, Stream.BARS, 8), True)
                paused_at = max(tick_index(m.event_time) for _, m in marks)
                bounds.record("steady_end", "ingest")
            for service in SERVICES:
                tick = progress_tick(client, service)
                if tick is not None and tick >= first:
                    bounds.record("steady_start", service)
                if paused_at is not None and tick is not None and tick >= paused_at:
                    bounds.record("steady_end", service)
            return paused_at is not None and all("steady_end" in bounds.reached[s] for s in SERVICES)

        _wait("the steady phase", phase_a, deadline, stack)
        last = {s: last_id(client, s) for s in Stream}
        exec_marks = mark_times(read_messages(client, Stream.EXECUTIONS, marks_only=True), "executor")
        first_bar: Any = client.xrange(KEYS.stream(Stream.BARS), count=1)
        first_message = codec.messages_of(Stream.BARS, first_bar[0][1])[0]
        first_publish, first_tick = first_message.trace["ingest"], tick_index(first_message.event_time)
        assert paused_at is not None
        steady_s = (exec_marks[paused_at] - exec_marks[first]) / 1e9
        steady_rate = n * (paused_at - first) / steady_s
        result: dict[str, Any] = {
            "throughput": {
                "ticks": paused_at - first,
                "symbol_bars": n * (paused_at - first),
                "seconds": steady_s,
                "symbol_bars_per_s": steady_rate,
                "us_per_symbol_bar": 1e6 / steady_rate,
                # The formula over the whole speed-0 phase, warm-up included.
                "with_warmup_symbol_bars_per_s": n
                * (paused_at + 1 - first_tick)
                / ((exec_marks[paused_at] - first_publish) / 1e9),
            },
            "services": _service_costs(bounds, n * (paused_at - first), paused_at - first),
        }
        echo(f"[{n} symbols] steady: {steady_rate:,.0f} symbol-bars/s")
        if case.bursts:
            result["latency"] = _paced(case, stack, client, deadline, steady_rate, paused_at, last, echo)
        result["cpu_accounting"] = account.result()
        measured_until = time.time()
        result["redis_keys"] = redis_keys(client, n)
        if case.profile:
            result["profile"] = _profile_phase(case, stack, client, deadline, echo)
        # Everything is measured: no need to drain what ingest published ahead at speed 0.
        result["memory"] = _memory(sampler, n, first, measured_until)
        result["streams"] = {s.value: client.xlen(KEYS.stream(s)) for s in Stream}
        result["status"] = {
            "risk": (stack.status().get("risk") or {}).get("service", {}).get("counters"),
            "dead_letters": client.xlen(KEYS.stream(Stream.DEAD_LETTERS)),
        }
        return result
    finally:
        if sampler is not None:
            sampler.stop.set()
        stack.stop()
        client.close()


def _pause_at(stack: Stack, url: str, target: int) -> None:
    """Pause ingest as soon as it has published tick ``target`` (it runs far ahead at speed 0)."""
    client = redis.Redis.from_url(url)
    while (progress_tick(client, "ingest") or 0) < target:
        time.sleep(0.002)
    control(stack, "ingest", "pause")
    time.sleep(0.1)  # a commit under way when the command arrived lands first


def _tail_id(client: redis.Redis, stream: Stream, count: int) -> str:
    got: Any = client.xrevrange(KEYS.stream(stream), count=count)
    return got[-1][0].decode() if got else "-"


def _end_of_data(client: redis.Redis) -> bool:
    return end_of_data(client, KEYS)


def _service_costs(bounds: Boundaries, symbol_bars: int, ticks: int) -> dict[str, dict[str, float]]:
    """Per service, between its own steady_start and steady_end: same ticks for every service."""
    out: dict[str, dict[str, float]] = {}
    for service in SERVICES:
        a, b = bounds.reached[service]["steady_start"], bounds.reached[service]["steady_end"]

        def d(key: str, a: dict[str, float] = a, b: dict[str, float] = b) -> float:
            return b.get(key, 0.0) - a.get(key, 0.0)

        wall = d("at")
        entries_in = sum(d(k) for k in b if k.startswith("messages_in_total"))
        handler, commits = d("handler_seconds_sum"), d("commit_seconds_count")
        out[service] = {
            "wall_s": wall,
            "cpu_s": d("cpu_s"),
            "cpu_share": d("cpu_s") / wall if wall else 0.0,
            "cpu_us_per_symbol_bar": 1e6 * d("cpu_s") / symbol_bars,
            "handler_s": handler,
            "handler_ms_per_tick": 1e3 * handler / max(1.0, d("handler_seconds_count")),
            "handler_us_per_entry": 1e6 * handler / entries_in if entries_in else 0.0,
            "commit_s": d("commit_seconds_sum"),
            "commit_ms_per_commit": 1e3 * d("commit_seconds_sum") / commits if commits else 0.0,
            "commits": commits,
            "ticks_per_commit": ticks / commits if commits else 0.0,
            "entries_in": entries_in,
            "entries_per_read": d("batch_entries_sum") / max(1.0, d("batch_entries_count")),
            "entries_out": sum(d(k) for k in b if k.startswith("messages_out_total")),
            "backpressure_waits": d("backpressure_waits_total"),
        }
    return out


def _paced(
    case: Case,
    stack: Stack,
    client: redis.Redis,
    deadline: float,
    steady_rate: float,
    paused_at: int,
    last: dict[Stream, str],
    echo: Any,
) -> dict[str, Any]:
    n = case.symbols
    _wait(
        "the pipeline to drain",
        lambda: all((progress_tick(client, s) or 0) >= paused_at for s in SERVICES if s != "ingest"),
        deadline,
        stack,
    )
    # A burst's span (ingest to the executor's last execution) is about twice its share of the
    # steady rate, the stages being pipelined there and serial here: 4x leaves an idle pipeline.
    interval = case.interval or max(0.05, round(4.0 * n / steady_rate, 2))
    echo(f"[{n} symbols] {case.bursts} bursts, one every {interval:.2f}s")
    control(stack, "ingest", "start", {"speed": BAR.total_seconds() / interval})
    control(stack, "ingest", "resume")
    # The first two bursts meet a re-anchored pacer; an order's ack comes with the next burst.
    measured = range(paused_at + 3, paused_at + 3 + case.bursts)
    _wait(
        "the paced bursts",
        lambda: (progress_tick(client, "executor") or 0) > measured[-1],
        deadline,
        stack,
        poll=0.01,
    )
    control(stack, "ingest", "pause")

    bars = mark_times(read_messages(client, Stream.BARS, last[Stream.BARS], marks_only=True), "ingest")
    order_entries = read_messages(client, Stream.ORDERS, last[Stream.ORDERS])
    risk = mark_times(order_entries, "risk")
    executions = read_messages(client, Stream.EXECUTIONS, last[Stream.EXECUTIONS])
    executor = mark_times(executions, "executor")
    ticks = [t for t in sorted(bars) if t in measured]
    tick_set = set(ticks)
    orders_out = [risk[t] - bars[t] for t in ticks if t in risk]
    turnaround = [executor[t] - risk[t] for t in ticks if t in executor and t in risk]
    bar_to_executor = [executor[t] - bars[t] for t in ticks if t in executor]
    per_order_out: list[int] = []
    traced_out: list[int] = []
    order_ticks: set[int] = set()
    orders = 0
    for _, message in order_entries:
        if isinstance(message, OrderRequest):
            orders += 1
            t = tick_index(message.event_time)
            if t in tick_set and "risk" in message.trace:
                order_ticks.add(t)
                per_order_out.append(message.trace["risk"] - bars[t])
                if "ingest" in message.trace:
                    traced_out.append(message.trace["risk"] - message.trace["ingest"])
    acked: dict[str, int] = {}
    seen: set[str] = set()
    traced_ack: list[int] = []
    statuses: dict[str, int] = defaultdict(int)
    for _, message in executions:
        if not isinstance(message, Execution) or message.client_order_id in seen:
            continue
        seen.add(message.client_order_id)
        statuses[message.status.value] += 1
        when = message.order_event_time
        tick = tick_index(when) if when is not None else None
        if tick is not None and tick in tick_set and "executor" in message.trace:
            acked[message.client_order_id] = message.trace["executor"] - bars[tick]
            if "ingest" in message.trace:
                traced_ack.append(message.trace["executor"] - message.trace["ingest"])
    stages = {}
    for hop, stream in (("predictor", Stream.PREDICTIONS), ("blender", Stream.SIGNALS)):
        stages[hop] = mark_times(read_messages(client, stream, last[stream], marks_only=True), hop)
    upstream = {"predictor": bars, "blender": stages["predictor"], "risk": stages["blender"]}
    downstream = {"predictor": stages["predictor"], "blender": stages["blender"], "risk": risk}
    per_stage = {
        hop: percentiles([downstream[hop][t] - upstream[hop][t] for t in ticks if t in downstream[hop]])
        for hop in ("predictor", "blender", "risk")
    }
    per_stage["executor"] = percentiles(bar_to_executor)
    return {
        "interval_s": interval,
        # Bursts published before the executor finished the previous one (should be 0).
        "bursts_overlapping": sum(
            1 for t in ticks if t - 1 in executor and t in bars and bars[t] < executor[t - 1]
        ),
        "bursts_measured": len(ticks),
        "bursts_with_orders": len(order_ticks),
        "orders": orders,
        "first_execution_status": dict(statuses),
        "orders_out_per_burst": percentiles(orders_out),
        "orders_out_per_order": percentiles(per_order_out),
        "ack_per_order": percentiles(list(acked.values())),
        "executor_turnaround_per_burst": percentiles(turnaround),
        "per_stage_per_burst": per_stage,
        "trace_propagation": {
            "orders_with_ingest_trace": len(traced_out),
            "executions_with_ingest_trace": len(traced_ack),
            "orders_out_per_order_from_trace": percentiles(traced_out),
            "ack_per_order_from_trace": percentiles(traced_ack),
            "note": "per-order figures use the publish time of the order's bar tick (ingest's watermark "
            "and bars share one commit), so they do not depend on trace propagation",
        },
    }


def _memory(sampler: MemorySampler | None, symbols: int, warmup: int, until: float) -> dict[str, Any]:
    """End and peak values up to ``until`` (the end of the measured phases), and the growth per
    100k symbol-bars over the second half of the post-warm-up samples: the first half holds the
    step where each service's per-symbol state appears with the first model outputs."""
    if sampler is None or not sampler.samples:
        return {}
    rows = [r for r in sampler.samples if r["t"] <= until] or sampler.samples
    names = [*SERVICES, "redis", "redis_used_mb"]
    after = [r for r in rows if (r["executor_tick"] or 0) >= warmup + 2] or rows
    first, end = after[len(after) // 2], after[-1]
    symbol_bars = symbols * ((end["executor_tick"] or 0) - (first["executor_tick"] or 0))
    return {
        "samples": len(rows),
        "after_warmup_mb": {k: round(after[0][k], 1) for k in names},
        "end_mb": {k: round(end[k], 1) for k in names},
        "peak_mb": {k: round(max(r[k] for r in rows), 1) for k in names},
        "growth_window_symbol_bars": symbol_bars,
        "growth_mb_per_100k_symbol_bars": {
            k: round(1e5 * (end[k] - first[k]) / symbol_bars, 2) if symbol_bars else None for k in names
        },
        # Streams keep bus.retain_entries entries (frames: ticks) each: Redis grows by this much
        # per symbol-bar until they are full (see "redis_keys" for what holds it).
        "redis_bytes_per_symbol_bar": round(
            2**20 * (end["redis_used_mb"] - first["redis_used_mb"]) / symbol_bars
        )
        if symbol_bars
        else None,
        "series": [
            {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
            for r in rows[:: max(1, len(rows) // 40)]
        ],
    }


def redis_keys(client: redis.Redis, symbols: int) -> dict[str, Any]:
    """What holds Redis' memory: each stream (entries, messages per entry, MB, bytes per entry,
    mean payload) and the
    other keys grouped by name with the symbol taken out."""
    streams: dict[str, Any] = {}
    for stream in Stream:
        key = KEYS.stream(stream)
        length = client.xlen(key)
        if not length:
            continue
        used: Any = client.memory_usage(key, samples=0)
        tail: Any = client.xrevrange(key, count=200)
        sizes = [len(f.get(codec.FIELD) or f.get(codec.FRAME_FIELD, b"")) for _, f in tail]
        messages = sum(len(codec.messages_of(stream, f)) for _, f in tail)
        payload = sum(sizes) / max(1, len(tail))
        streams[stream.value] = {
            "entries": length,
            "messages_per_entry": round(messages / max(1, len(tail)), 1),
            "mb": round(used / 2**20, 1),
            "bytes_per_entry": round(used / length),
            "mean_payload_bytes": round(payload),
        }
    others: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    names = set(symbol_names(symbols))
    stream_keys = {KEYS.stream(s) for s in Stream}
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        if key in stream_keys:
            continue
        parts = key.split(":")
        group = ":".join(
            "<symbol>" if part in names else "<id>" if part.startswith("RL-") else part for part in parts
        )
        size: Any = client.memory_usage(key, samples=0)
        others[group][0] += 1
        others[group][1] += int(size or 0)
    ranked = sorted(others.items(), key=lambda kv: -kv[1][1])[:12]
    return {
        "streams": streams,
        "other_keys": {name: {"keys": n, "mb": round(b / 2**20, 2)} for name, (n, b) in ranked},
    }


# -- the in-process ceiling -------------------------------------------------------------------------
def inprocess_ceiling(symbols: int, warmup: int, steady: int) -> dict[str, Any]:
    """The same services and data in one process without Redis (``ridgeline backtest``), in a
    child process so its environment and memory stay its own."""
    command = [sys.executable, "-m", "bench.pipeline", "--inprocess", "--symbols", str(symbols)]
    command += ["--warmup", str(warmup), "--steady", str(steady)]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"in-process ceiling failed:\n{done.stderr[-3000:]}")
    return cast(dict[str, Any], json.loads(done.stdout.strip().splitlines()[-1]))


def _inprocess_child(symbols: int, warmup: int, steady: int) -> dict[str, Any]:
    os.environ.update(case_env(symbols, warmup + steady + 2))
    from ridgeline.backtest import build_services
    from ridgeline_shared.runtime.inprocess import InProcessPipeline, _Node
    from ridgeline_shared.runtime.main import tune_gc
    from ridgeline_shared.runtime.service import Outbox

    marks: dict[int, float] = {}
    spent: dict[str, float] = defaultdict(float)

    def steady_tick(tick: Any) -> bool:
        return tick is not None and warmup < tick_index(tick) <= warmup + steady

    class Timed(InProcessPipeline):
        def _publish(self, out: Outbox) -> None:
            for stream, message in out.messages:
                if stream is Stream.EXECUTIONS and isinstance(message, Watermark):
                    marks[tick_index(message.event_time)] = time.perf_counter()
            super()._publish(out)

        def _drain(self, node: _Node) -> bool:
            started = time.perf_counter()
            progressed = super()._drain(node)
            if progressed and node.merger is not None and steady_tick(node.merger.last_tick):
                spent[node.service.name] += time.perf_counter() - started
            return progressed

    services = build_services()
    tune_gc()  # as the services and the backtest run
    ingest = services[0]
    poll = ingest.poll

    def timed_poll(out: Outbox) -> bool:
        started = time.perf_counter()
        produced = poll(out)
        ticks = [m.event_time for _, m in out.messages if isinstance(m, Watermark)]
        if ticks and steady_tick(ticks[-1]):
            spent["ingest"] += time.perf_counter() - started
        return produced

    ingest.poll = timed_poll  # type: ignore[method-assign]
    started = time.perf_counter()
    Timed(services).run()
    total = time.perf_counter() - started
    first = min(t for t in marks if t >= warmup)
    last = max(t for t in marks if t <= warmup + steady)
    seconds = marks[last] - marks[first]
    symbol_bars = symbols * (last - first)
    return {
        "symbols": symbols,
        "ticks": last - first,
        "seconds": seconds,
        "symbol_bars_per_s": symbol_bars / seconds,
        "us_per_symbol_bar": 1e6 * seconds / symbol_bars,
        "whole_run_s": total,
        # Each service's own work per symbol-bar, without Redis or (de)serialisation.
        "service_us_per_symbol_bar": {k: 1e6 * v / symbol_bars for k, v in sorted(spent.items())},
    }


# -- the profile -----------------------------------------------------------------------------------
WAIT_LEAVES = ("read_from_socket", ".wait", "readline", "recv", "recv_into")
CATEGORIES = (
    # (category, substring of any frame), first match wins.
    ("idle: back-pressure", "Worker._backpressure ("),
    ("snapshot", "Worker._write_snapshot ("),
    # py-spy names files relative to their sys.path entry.
    ("decode", "decode (codec.py"),
    ("encode", "encode (codec.py"),
    ("encode", "stamped (messages/base.py"),
    ("prometheus", "prometheus_client/"),
    ("runtime: tick merge", "(runtime/merge.py"),
)
IDLE = ("idle: waiting for input", "idle: back-pressure")


def _category(frames: list[str]) -> str:
    """The worker thread's wall time: blocked reads and waits are idle, the rest is work; Redis
    time (client code and round trips) by where it is spent."""
    waiting = frames[-1].split(" (")[0].endswith(WAIT_LEAVES)
    redis_call = any("redis/" in f for f in frames)
    in_handler = any(f.startswith(("run_tick (", "IngestService.poll (")) for f in frames)
    reading = any(f.startswith("Worker._read (") for f in frames)
    # The commit and the next read share a round trip: only the read's reply is waiting for input.
    committing = any(f.startswith("commit_then_read (") for f in frames) and not any(
        f.startswith("_next_entries (") for f in frames
    )
    if committing:
        return "redis: commit"
    if waiting and not any("_backpressure (" in f for f in frames) and (reading or not redis_call):
        return "idle: waiting for input"
    for category, needle in CATEGORIES:
        if any(needle in frame for frame in frames):
            return category
    if redis_call:
        if in_handler:
            return "redis: calls in handlers"
        if any(f.startswith("Worker._commit (") for f in frames):
            return "redis: commit"
        if any(f.startswith(("Worker._read (", "Worker._maybe_claim (")) for f in frames):
            return "redis: read input"
        return "redis: other"
    if in_handler:
        return "handlers: pydantic models" if any("pydantic/" in f for f in frames) else "handlers"
    return "runtime: other"


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module path without site-packages)``."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/services/", "/shared/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    for prefix in ("ingest/", "predictor/", "blender/", "risk/", "executor/"):
        path = path.removeprefix(prefix)
    return f"{name} ({path})"


def analyse_profile(path: Path, service: str, top: int = 8) -> dict[str, Any]:
    """Shares per category of the worker thread's samples, and its hottest functions."""
    categories: dict[str, int] = defaultdict(int)
    leaf: dict[str, int] = defaultdict(int)
    inclusive: dict[str, int] = defaultdict(int)
    threads: dict[str, int] = defaultdict(int)
    worker = total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        name = thread.split(": ", 1)[-1]
        threads[name] += count
        total += count
        if name != f"{service}-worker":
            continue
        worker += count
        short = [_short(f) for f in frames]
        category = _category(short)
        categories[category] += count
        if category in IDLE:
            continue
        leaf[short[-1]] += count
        for frame in set(short):
            if frame.split(" (")[1].startswith(("ridgeline", "runtime", "bench")):
                inclusive[frame] += count
    busy = worker - sum(categories[k] for k in IDLE)
    shares = {k: round(v / worker, 3) for k, v in sorted(categories.items(), key=lambda kv: -kv[1])}
    busy_shares = {
        k: round(v / busy, 3)
        for k, v in sorted(categories.items(), key=lambda kv: -kv[1])
        if k not in IDLE and busy
    }
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    busy = busy or 1
    return {
        "samples": total,
        "worker_samples": worker,
        "worker_share_of_samples": round(worker / total, 3) if total else 0.0,
        "threads": dict(threads),
        "busy_share_of_wall": round(busy / worker, 3) if worker else 0.0,
        "shares_of_wall": shares,
        "shares_of_busy": busy_shares,
        # Shares of the busy samples.
        "top_self": [(k, round(v / busy, 3)) for k, v in sorted(leaf.items(), key=lambda kv: -kv[1])[:top]],
        "top_inclusive": [(k, round(v / busy, 3)) for k, v in ranked if v / busy < 0.97][:top],
    }


def record_profiles(stack: Stack, seconds: float, out_dir: Path) -> dict[str, Any]:
    """py-spy (100 Hz, idle samples included) on the five services at once."""
    out_dir.mkdir(parents=True, exist_ok=True)

    # The venv's own py-spy, so the harness runs as `.venv/bin/python -m ...` without activation.
    beside = Path(sys.executable).with_name("py-spy")
    py_spy = str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"

    def spy(pid: int, name: str) -> subprocess.Popen[bytes]:
        command = [py_spy, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", "100"]
        command += ["--format", "raw", "--threads", "--idle", "--output", str(out_dir / f"{name}.txt")]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    spies = {name: spy(proc.process.pid, name) for name, proc in stack.processes.items()}
    for name, process in spies.items():
        _, err = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise RuntimeError(f"py-spy on {name} failed: {err.decode()[-500:]}")
    root = RESULTS.parent.parent
    return {
        "seconds": seconds,
        "files": {name: str((out_dir / f"{name}.txt").relative_to(root)) for name in SERVICES},
        "services": {name: analyse_profile(out_dir / f"{name}.txt", name) for name in SERVICES},
    }


def _profile_phase(
    case: Case, stack: Stack, client: redis.Redis, deadline: float, echo: Any
) -> dict[str, Any]:
    """Back to speed 0 with every service busy, then py-spy: where a steady replay's time goes."""
    control(stack, "ingest", "start", {"speed": 0})
    control(stack, "ingest", "resume")
    base = progress_tick(client, "executor") or 0
    _wait("the replay to resume", lambda: (progress_tick(client, "executor") or 0) > base, deadline, stack)
    echo(f"[{case.symbols} symbols] py-spy on the five services for {case.profile:.0f}s at speed 0")
    profile = record_profiles(stack, case.profile, RESULTS / "profiles" / str(case.symbols))
    control(stack, "ingest", "pause")
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--steady", type=int, default=60)
    parser.add_argument("--bursts", type=int, default=50)
    parser.add_argument("--interval", type=float)
    parser.add_argument("--inprocess", action="store_true", help="the in-process ceiling alone (prints JSON)")
    parser.add_argument(
        "--profile", type=float, default=0.0, metavar="S", help="then py-spy the services S s"
    )
    args = parser.parse_args()
    if args.inprocess:
        print(json.dumps(_inprocess_child(args.symbols, args.warmup, args.steady)))
        return
    case = Case(args.symbols, args.warmup, args.steady, args.bursts, args.interval, profile=args.profile)
    run_dir = Path("runs") / time.strftime("bench-%Y%m%dT%H%M%SZ", time.gmtime())
    result = run_case(case, run_dir)
    path = write_results(f"pipeline_{args.symbols}", result)
    print(json.dumps({k: v for k, v in result.items() if k != "memory"}, indent=1, default=str)[:6000])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
