"""Blender throughput: Signals per second through the pure core (no Redis), on real bars.

For 1, 100 and 1000 symbols (the bundled 5m bar files, reused under distinct symbol names), each
tick feeds every symbol's bar and a synthetic Predictions message (6 horizons x 3 families and a
barrier), then closes the tick; the timed part is the core's whole tick (bars, predictions,
blending, arbitration, Signal construction). The baseline, measured in the same run on the same
messages, is only the bus codec's work for them: decoding each Predictions from its stream entry
and encoding the resulting Signal. ``ratio`` = core rate / baseline rate. Each figure is the best of
``--repeat`` runs, the core replaying the same warm-up ticks (untimed) before each. Each tick's
signals are dropped once counted, as the service drops them once encoded; ``tick p50/p99`` is the
distribution of the timed ticks' durations. Snapshot and restore are timed on the final state.

    python bench/blender_throughput.py [--quick] [--repeat 3] [--gc-threshold 10000,10,10]

Prints a table and writes bench/results/blender_throughput.json.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import percentiles, table, write_results  # noqa: E402
from ridgeline_blender.config import BlenderConfig  # noqa: E402
from ridgeline_blender.core import Blender  # noqa: E402
from ridgeline_shared import codec  # noqa: E402
from ridgeline_shared.config import MarketConfig  # noqa: E402
from ridgeline_shared.keys import Stream  # noqa: E402
from ridgeline_shared.messages import Bar, BarrierPrediction, ModelPrediction, Predictions, Signal  # noqa: E402

HORIZONS = ("5m", "10m", "15m", "30m", "60m", "1d")
FAMILIES = ("gbt", "mlp", "ridge")
FILES = ("ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC")
WARMUP_TICKS = 30
# The services' shared market section at its defaults (configured spreads).
MARKET = MarketConfig()


def data_dir() -> Path:
    for d in (ROOT / "data" / "market", ROOT.parent / "shared" / "data" / "market"):
        if (d / "ETHBTC_5m.csv").is_file():
            return d
    raise FileNotFoundError("no bundled market data (data/market or ../shared/data/market)")


def load_rows(name: str, limit: int) -> list[dict[str, str]]:
    with (data_dir() / f"{name}_5m.csv").open() as fh:
        return [row for i, row in zip(range(limit), csv.DictReader(fh), strict=False)]


def bar_of(symbol: str, row: dict[str, str], t0: datetime) -> Bar:
    return Bar(
        event_time=t0 + timedelta(minutes=5),
        trace_id=f"{symbol}@{t0.isoformat()}",
        symbol=symbol,
        interval="5m",
        open_time=t0,
        open=float(row["open"]),
        high=float(row["high"]),
        low=float(row["low"]),
        close=float(row["close"]),
        volume=float(row["volume"]),
        received_at=t0 + timedelta(minutes=5),
        source="bench",
    )


def predictions_of(bar: Bar, rng: random.Random) -> Predictions:
    entries = []
    for h in HORIZONS:
        common = rng.gauss(0, 1)
        for f in FAMILIES:
            z = max(-3.0, min(3.0, 0.7 * common + 0.7 * rng.gauss(0, 1)))
            c = rng.uniform(0.2, 1.0)
            entries.append(
                ModelPrediction(
                    horizon=h, family=f, model_version="v1", raw=z * 1e-3, zscore=z, ic=rng.uniform(0, 0.2),
                    freshness=1.0, capacity=1.0, stability=1.0, confidence=c, score=z * c, warming_up=False,
                )
            )  # fmt: skip
    return Predictions(
        event_time=bar.event_time,
        trace_id=f"p-{bar.trace_id}",
        symbol=bar.symbol,
        interval="5m",
        close=bar.close,
        entries=entries,
        barrier=BarrierPrediction(p_peak=rng.random(), p_valley=rng.random(), model_version="b1"),
    )


def build(n_symbols: int, ticks: int) -> list[list[tuple[Bar, Predictions]]]:
    rows = {name: load_rows(name, ticks) for name in FILES}
    t0 = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)
    rng = random.Random(n_symbols)
    out = []
    for k in range(ticks):
        at = t0 + timedelta(minutes=5 * k)
        tick = []
        for i in range(n_symbols):
            bar = bar_of(f"S{i:04d}", rows[FILES[i % len(FILES)]][k], at)
            tick.append((bar, predictions_of(bar, rng)))
        out.append(tick)
    return out


def run_core(
    core: Blender, ticks: list[list[tuple[Bar, Predictions]]], sink: Callable[[list[Signal]], object]
) -> list[int]:
    """Feed ``ticks``; each tick's signals go to ``sink``. Returns each tick's time (ns)."""
    times = []
    clock = time.perf_counter_ns
    for tick in ticks:
        started = clock()
        for bar, _ in tick:
            core.on_bar(bar)
        for _, preds in tick:
            core.add_predictions(preds)
        signals = core.end_tick()
        times.append(clock() - started)
        sink(signals)
    return times


class Tally:
    """Counts each tick's decisions and drops the signals, as the service drops them once
    encoded: keeping a whole run's signals alive would load the garbage collector with
    objects the service never holds (their count grows with the run, not with the tick)."""

    def __init__(self) -> None:
        self.counts = {"BUY": 0, "SELL": 0, "HOLD": 0}

    def __call__(self, signals: list[Signal]) -> None:
        for s in signals:
            self.counts[s.decision.value] += 1


def warmed(ticks: list[list[tuple[Bar, Predictions]]]) -> Blender:
    """A core that has seen the warm-up ticks (the same state every time: the core is
    deterministic). Replayed rather than restored from a snapshot: a restored state is made of
    other objects (JSON lists) than a running one, which the garbage collector would walk in the
    timed ticks, and a service restores once, not every few ticks."""
    core = Blender(BlenderConfig(), "5m", HORIZONS, market=MARKET)
    run_core(core, ticks, lambda _: None)
    return core


def measure(n_symbols: int, timed_ticks: int, repeat: int) -> dict[str, Any]:
    ticks = build(n_symbols, WARMUP_TICKS + timed_ticks)
    timed = [preds for tick in ticks[WARMUP_TICKS:] for _, preds in tick]
    entries = [codec.encode(p) for p in timed]
    # The signals the baseline encodes: one untimed run.
    signals: list[Signal] = []
    run_core(warmed(ticks[:WARMUP_TICKS]), ticks[WARMUP_TICKS:], signals.extend)
    # The prebuilt inputs are the benchmark's, not the service's: keep them out of the collector's
    # sweeps (the core's own allocations are still collected as usual).
    gc.collect()
    gc.freeze()
    core_s, base_s = float("inf"), float("inf")
    tick_ns: list[int] = []
    tally = Tally()
    for _ in range(repeat):
        core = warmed(ticks[:WARMUP_TICKS])
        gc.collect()
        tally = Tally()
        started = time.perf_counter()
        times = run_core(core, ticks[WARMUP_TICKS:], tally)
        elapsed = time.perf_counter() - started
        if elapsed < core_s:
            core_s, tick_ns = elapsed, times
        started = time.perf_counter()
        for fields, signal in zip(entries, signals, strict=True):
            codec.decode(Stream.PREDICTIONS, fields)
            codec.encode(signal)
        base_s = min(base_s, time.perf_counter() - started)
    started = time.perf_counter()
    state = core.snapshot()
    snapshot_ms = 1e3 * (time.perf_counter() - started)
    started = time.perf_counter()
    Blender(BlenderConfig(), "5m", HORIZONS, market=MARKET).restore(state)
    restore_ms = 1e3 * (time.perf_counter() - started)
    gc.unfreeze()
    assert tally.counts == {d: sum(1 for s in signals if s.decision.value == d) for d in tally.counts}
    core_rate, base_rate = len(signals) / core_s, len(signals) / base_s
    return {
        "symbols": n_symbols,
        "ticks": timed_ticks,
        "signals": len(signals),
        "core_seconds": round(core_s, 4),
        "signals_per_s": round(core_rate, 1),
        "baseline_codec_per_s": round(base_rate, 1),
        "ratio_to_baseline": round(core_rate / base_rate, 3),
        "us_per_signal": round(1e6 * core_s / len(signals), 1),
        "baseline_us_per_signal": round(1e6 * base_s / len(signals), 1),
        "tick_us": {k: round(v, 1) for k, v in percentiles(tick_ns).items()},
        "snapshot_bytes": len(state),
        "snapshot_ms": round(snapshot_ms, 1),
        "restore_ms": round(restore_ms, 1),
        **{f"decisions_{k.lower()}": v for k, v in tally.counts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--gc-threshold",
        help="gc.set_threshold(a, b, c) for the run, e.g. 10000,10,10 (default: Python's 700,10,10)",
    )
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(*(int(x) for x in args.gc_threshold.split(",")))
    plan = [(1, 1000), (100, 40), (1000, 6)]
    if args.quick:
        plan = [(1, 100), (100, 4), (1000, 2)]
    results = [measure(n, t, args.repeat) for n, t in plan]
    rows = [
        (
            "symbols",
            "signals",
            "signals/s",
            "codec/s",
            "ratio",
            "us/signal",
            "codec us/signal",
            "tick p50/p99 us",
            "snapshot",
            "snap/restore ms",
        )
    ]
    rows += [
        (
            str(r["symbols"]),
            str(r["signals"]),
            f"{r['signals_per_s']:.0f}",
            f"{r['baseline_codec_per_s']:.0f}",
            f"{r['ratio_to_baseline']:.3f}",
            f"{r['us_per_signal']:.1f}",
            f"{r['baseline_us_per_signal']:.1f}",
            f"{r['tick_us']['p50_us']:.0f}/{r['tick_us']['p99_us']:.0f}",
            f"{r['snapshot_bytes'] / 1e6:.1f} MB",
            f"{r['snapshot_ms']:.0f}/{r['restore_ms']:.0f}",
        )
        for r in results
    ]
    print(table(rows))
    path = write_results(
        "blender_throughput",
        {
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "quick": args.quick,
            "repeat": args.repeat,
            "gc_threshold": list(gc.get_threshold()),
            "horizons": list(HORIZONS),
            "families": list(FAMILIES),
            "baseline": "codec.decode(Predictions entry) + codec.encode(Signal), same messages, same run",
            "results": results,
        },
    )
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
