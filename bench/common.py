"""Shared helpers of the benchmarks: percentiles, a results file, a private Redis."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50 / p99 / p99.9 / max in microseconds."""
    ordered = sorted(samples_ns)
    if not ordered:
        return {}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e3

    return {
        "n": len(ordered),
        "p50_us": pick(0.50),
        "p99_us": pick(0.99),
        "p999_us": pick(0.999),
        "max_us": ordered[-1] / 1e3,
        "mean_us": statistics.fmean(ordered) / 1e3,
    }


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        **figures,
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def synthetic_bars(symbols: int, ticks: int, start_minute: int = 0) -> list[list[Any]]:
    """Valid bars for ``symbols`` x ``ticks`` (prices from a fixed random walk, seed 7), grouped by
    tick. Content does not matter to transport benchmarks; validity and size do."""
    import random
    from datetime import UTC, datetime, timedelta

    from ridgeline_shared.messages import Bar

    rng = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=start_minute)
    prices = [100.0 + i for i in range(symbols)]
    out: list[list[Any]] = []
    for t in range(ticks):
        close_time = start + timedelta(minutes=5 * (t + 1))
        tick = []
        for s in range(symbols):
            o = prices[s]
            c = o * (1 + rng.gauss(0, 0.001))
            prices[s] = c
            tick.append(
                Bar(
                    event_time=close_time,
                    trace_id=f"S{s:04d}@{close_time.isoformat()}",
                    symbol=f"S{s:04d}",
                    interval="5m",
                    open_time=close_time - timedelta(minutes=5),
                    open=o,
                    high=max(o, c) * 1.0005,
                    low=min(o, c) * 0.9995,
                    close=c,
                    volume=1000.0 + s,
                    received_at=close_time,
                    source="bench",
                )
            )
        out.append(tick)
    return out
