"""Every pipeline figure with its baseline, measured in one run:

    python -m bench.run_all [--quick] [--skip-profile]

1. one bus hop: the worker against raw redis-py on a private Redis (bench/bus_hop.py);
2. per symbol count (1, 10, 100, 1,000): raw-hop floors, then the five services on that same
   Redis: sustained throughput, per-service costs, paced burst latency, memory (bench/pipeline.py);
3. the in-process backtest on the same data: the ceiling without Redis or serialisation;
4. py-spy profiles of the five services under a steady replay;
5. the codec's cost per symbol-bar and the cost of code run after the CPU idled (bench/codec.py):
   the floors that stand between the pipeline and the targets it does not meet.

Prints a table and writes bench/results/pipeline.json (figures, baselines, ratios, targets,
parameters, machine). About 6 minutes on the 2-core reference machine; ``--quick`` less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import redis

from bench import bus_hop, codec
from bench.common import RESULTS, percentiles, table, write_results
from bench.pipeline import Case, analyse_profile, inprocess_ceiling, run_case
from ridgeline.embedded_redis import running_redis
from ridgeline.launcher import SERVICES

# At 1,000 symbols the warm-up alone is 150,000 symbol-bars (about a minute on the reference
# machine) and a steady tick about half a second: 20 ticks and 10 bursts fit the budget.
FULL = (
    Case(1, steady=1000, bursts=300, interval=0.05, profile=15),
    Case(10, steady=300),
    Case(100, steady=100, bursts=100, profile=20),
    Case(1000, steady=20, bursts=10, profile=20),
)
QUICK = (
    Case(1, steady=300, bursts=100, interval=0.05, profile=8),
    Case(10, steady=100),
    Case(100, steady=30, bursts=30, profile=10),
)

TARGETS = {
    "bar_to_order_p99_vs_floor_at_1": 3.0,
    "all_orders_out_p99_ms_at_1000": 100.0,
    "symbol_bars_per_s_at_1000": 20_000.0,
    "per_hop_overhead_vs_raw": 2.0,
}


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(int(mem) / 2**20, 1),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "platform": platform.platform(),
    }


def hop(client_url: str, n: int) -> dict[str, Any]:
    client = redis.Redis.from_url(client_url)
    raw = percentiles(bus_hop.raw_latency(client, n))
    ours = percentiles(bus_hop.ridgeline_latency(client, client_url, n))
    return {
        "n": n,
        "raw": raw,
        "worker": ours,
        "ratio_p50": ours["p50_us"] / raw["p50_us"],
        "ratio_p99": ours["p99_us"] / raw["p99_us"],
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e3:.1f}" if value >= 1e4 else f"{value / 1e3:.2f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def x(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x" if value >= 1 else f"{value:.3f}x"


def foreign(case: dict[str, Any]) -> str:
    """Cores' worth of CPU that other processes on the machine took while the stack ran."""
    cpu = case.get("cpu_accounting", {})
    return f"{cpu['foreign_cpu_s'] / cpu['wall_s']:.2f}" if cpu.get("wall_s") else "-"


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Ratios against baselines and the issue's targets."""
    cases = results["cases"]
    out: dict[str, Any] = {"latency": {}, "throughput": {}}
    for key, case in cases.items():
        lat = case.get("latency")
        if lat:
            floor3 = case["floor"]["latency"]["3"]
            floor1 = case["floor"]["latency"]["1"]
            floor4 = case["floor"]["latency"]["4"]
            out["latency"][key] = {
                "ack_p99_vs_4_hops_p99": ratio(lat["ack_per_order"].get("p99_us"), floor4["p99_us"]),
                "orders_out_p99_vs_3_hops_p99_per_message_floor": ratio(
                    lat["orders_out_per_burst"].get("p99_us"),
                    case["floor"].get("latency_per_message", {}).get("3", {}).get("p99_us"),
                ),
                "orders_out_p99_vs_3_hops_p99": ratio(
                    lat["orders_out_per_burst"].get("p99_us"), floor3["p99_us"]
                ),
                "orders_out_p50_vs_3_hops_p50": ratio(
                    lat["orders_out_per_burst"].get("p50_us"), floor3["p50_us"]
                ),
                "per_hop_p50_vs_raw_hop_p50": {
                    stage: ratio(v.get("p50_us"), floor1["p50_us"])
                    for stage, v in lat["per_stage_per_burst"].items()
                },
                "per_hop_p99_vs_raw_hop_p99": {
                    stage: ratio(v.get("p99_us"), floor1["p99_us"])
                    for stage, v in lat["per_stage_per_burst"].items()
                },
            }
        tp = case["throughput"]
        ceiling = results["ceilings"].get(key, {})
        out["throughput"][key] = {
            "symbol_bars_per_s": tp["symbol_bars_per_s"],
            "vs_raw_4_hops": ratio(
                tp["symbol_bars_per_s"], case["floor"]["throughput_4_hops"]["symbol_bars_per_s"]
            ),
            "vs_inprocess": ratio(tp["symbol_bars_per_s"], ceiling.get("symbol_bars_per_s")),
        }
    one, thousand = cases.get("1", {}), cases.get("1000", {})
    hop_ratio = results["bus_hop"]["ratio_p50"]
    targets = {
        "bar_to_order_p99_vs_floor_at_1": out["latency"].get("1", {}).get("orders_out_p99_vs_3_hops_p99"),
        "all_orders_out_p99_ms_at_1000": (thousand.get("latency") or {})
        .get("orders_out_per_burst", {})
        .get("p99_us", 0)
        / 1e3
        or None,
        "symbol_bars_per_s_at_1000": thousand.get("throughput", {}).get("symbol_bars_per_s"),
        "per_hop_overhead_vs_raw": hop_ratio,
    }
    out["targets"] = {
        name: {
            "target": TARGETS[name],
            "measured": value,
            "met": None
            if value is None
            else (value >= TARGETS[name] if name.startswith("symbol_bars") else value <= TARGETS[name]),
        }
        for name, value in targets.items()
    }
    del one
    return out


def codec_floor() -> dict[str, Any]:
    """bench/codec.py in a child process (it replays the bundled data in-process)."""
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "bench.codec"]
    subprocess.run(command, cwd=root, check=True, capture_output=True, timeout=900)
    return cast(dict[str, Any], json.loads((RESULTS / "codec.json").read_text()))


def print_tables(results: dict[str, Any]) -> None:
    cases, summary = results["cases"], results["summary"]
    rows: list[tuple[str, ...]] = [
        ("symbols", "orders out p50/p99/p99.9 ms", "3-hop floor p50/p99", "p99 ratio",
         "ack/order p50/p99 ms", "4-hop floor p99", "p99 ratio", "exec turnaround p99", "1-hop floor p99",
         "interval s"),
    ]  # fmt: skip
    for key, case in cases.items():
        lat = case.get("latency")
        if not lat:
            continue
        out, f3, f1 = (
            lat["orders_out_per_burst"],
            case["floor"]["latency"]["3"],
            case["floor"]["latency"]["1"],
        )
        ack, turn = lat["ack_per_order"], lat["executor_turnaround_per_burst"]
        rows.append((
            key,
            f"{ms(out.get('p50_us'))}/{ms(out.get('p99_us'))}/{ms(out.get('p999_us'))}",
            f"{ms(f3['p50_us'])}/{ms(f3['p99_us'])}",
            x(summary["latency"][key]["orders_out_p99_vs_3_hops_p99"]),
            f"{ms(ack.get('p50_us'))}/{ms(ack.get('p99_us'))}",
            ms(case["floor"]["latency"]["4"]["p99_us"]),
            x(summary["latency"][key]["ack_p99_vs_4_hops_p99"]),
            ms(turn.get("p99_us")),
            ms(f1["p99_us"]),
            f"{lat['interval_s']:.2f}",
        ))  # fmt: skip
    print("\nLatency, per burst, bar published -> all orders of the burst out of risk (ms); floors: raw")
    print("hops moving each burst as one frame, as the services do (per-message floors in the JSON)")
    print(table(rows))
    rows = [("symbols", "pipeline sb/s", "us/sb", "raw 4-hop sb/s", "vs raw", "in-process sb/s", "vs in-proc",
             "incl. warm-up sb/s", "other load (cores)")]  # fmt: skip
    for key, case in cases.items():
        tp, s = case["throughput"], summary["throughput"][key]
        ceiling = results["ceilings"].get(key, {})
        rows.append((
            key,
            f"{tp['symbol_bars_per_s']:,.0f}",
            f"{tp['us_per_symbol_bar']:,.0f}",
            f"{case['floor']['throughput_4_hops']['symbol_bars_per_s']:,.0f}",
            x(s["vs_raw_4_hops"]),
            f"{ceiling.get('symbol_bars_per_s', 0):,.0f}",
            x(s["vs_inprocess"]),
            f"{tp['with_warmup_symbol_bars_per_s']:,.0f}",
            foreign(case),
        ))  # fmt: skip
    print("\nSustained throughput after warm-up, speed 0 (sb = symbol-bars)")
    print(table(rows))
    for key in ("1", "100", "1000"):
        case = cases.get(key)
        if not case:
            continue
        own = results["ceilings"].get(key, {}).get("service_us_per_symbol_bar", {})
        rows = [
            ("service", "CPU us/sb", "CPU share", "in-proc own us/sb", "handler ms/tick",
             "handler us/entry", "commit ms", "ticks/commit", "RSS end MB", "RSS MB/100k sb"),
        ]  # fmt: skip
        memory = case.get("memory", {})
        for name, cost in case["services"].items():
            rows.append((
                name,
                f"{cost['cpu_us_per_symbol_bar']:,.0f}",
                f"{cost['cpu_share']:.0%}",
                f"{own.get(name, 0):,.0f}",
                f"{cost['handler_ms_per_tick']:.2f}",
                f"{cost['handler_us_per_entry']:.0f}",
                f"{cost['commit_ms_per_commit']:.2f}",
                f"{cost['ticks_per_commit']:.1f}",
                f"{memory.get('end_mb', {}).get(name, 0):.0f}",
                str(memory.get("growth_mb_per_100k_symbol_bars", {}).get(name)),
            ))  # fmt: skip
        redis_end = memory.get("end_mb", {}).get("redis_used_mb")
        print(f"\nPer service at {key} symbols, steady phase (Redis used_memory at the end: {redis_end} MB)")
        print(table(rows))
    bus = results["bus_hop"]
    print(
        f"\nOne bus hop, ping-pong: worker p50 {bus['worker']['p50_us']:.0f} us"
        f" / p99 {bus['worker']['p99_us']:.0f} us"
        f" vs raw p50 {bus['raw']['p50_us']:.0f} / p99 {bus['raw']['p99_us']:.0f} us"
        f" ({bus['ratio_p50']:.1f}x / {bus['ratio_p99']:.1f}x)"
    )
    for symbols, profile in results.get("profiles", {}).items():
        print(
            f"\nProfile at {symbols} symbols (py-spy, worker thread: busy share of wall, busy time by kind)"
        )
        rows = [("service", "busy", "by kind (share of busy time)")]
        for name in SERVICES:
            p = profile["services"][name]
            kinds = ", ".join(f"{k} {v:.0%}" for k, v in list(p["shares_of_busy"].items())[:5])
            rows.append((name, f"{p['busy_share_of_wall']:.0%}", kinds))
        print(table(rows))
    if "codec" in results:
        print()
        codec.print_table(results["codec"])
    print("\nTargets")
    for name, t in summary["targets"].items():
        measured = t["measured"]
        shown = "-" if measured is None else f"{measured:,.1f}"
        print(f"  {name}: measured {shown}, target {t['target']:,}, {'met' if t['met'] else 'NOT met'}")


def reprint() -> None:
    """Tables from the last pipeline.json, its profiles re-read from their files."""
    path = RESULTS / "pipeline.json"
    results = json.loads(path.read_text())
    for profile in results.get("profiles", {}).values():
        for name, file in profile["files"].items():
            profile["services"][name] = analyse_profile(RESULTS.parent.parent / file, name)
    results["summary"] = summarise(results)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_tables(results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer ticks and bursts (about 4 minutes)")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--symbols", help="only these symbol counts, e.g. 1,100")
    parser.add_argument("--reprint", action="store_true", help="re-analyse the saved profiles and print")
    args = parser.parse_args()
    if args.reprint:
        reprint()
        return
    cases: tuple[Case, ...] = QUICK if args.quick else FULL
    if args.symbols:
        wanted = {int(s) for s in args.symbols.split(",")}
        cases = tuple(c for c in cases if c.symbols in wanted)
    run_dir = Path("runs") / time.strftime("bench-%Y%m%dT%H%M%SZ", time.gmtime())
    began = time.monotonic()

    def echo(text: str) -> None:
        print(f"{time.monotonic() - began:6.0f}s  {text}", flush=True)

    results: dict[str, Any] = {"machine": machine(), "cases": {}, "ceilings": {}, "profiles": {}}
    echo("one bus hop: worker vs raw")
    with running_redis(aof=False) as server:
        results["bus_hop"] = hop(server.url, 500 if args.quick else 1000)
        results["redis_version"] = ".".join(map(str, server.version))
    for planned in cases:
        case = replace(planned, profile=0.0) if args.skip_profile else planned
        result = run_case(case, run_dir / f"case-{case.symbols}", echo)
        if "profile" in result:
            results["profiles"][str(case.symbols)] = result.pop("profile")
        results["cases"][str(case.symbols)] = result
        echo(f"[{case.symbols} symbols] in-process ceiling")
        ceiling = inprocess_ceiling(case.symbols, case.warmup, max(case.steady, 5))
        results["ceilings"][str(case.symbols)] = ceiling
    echo("codec and idle penalty")
    results["codec"] = codec_floor()
    results["summary"] = summarise(results)
    results["params"] = {
        "quick": args.quick,
        "cases": [c.__dict__ for c in cases],
        "environment": "bench.pipeline.BASE_ENV",
        "elapsed_s": round(time.monotonic() - began),
    }
    path = write_results("pipeline", results)
    print_tables(results)
    print(f"\nwritten to {path} in {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
