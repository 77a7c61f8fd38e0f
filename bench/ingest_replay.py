"""Ingest replay throughput of the pure core (no Redis): rows -> validated Bar messages -> encoded.

Scenarios (each timed end to end, best and median of ``--repeat`` runs):

- ``bundled_files``: the bundled real data set (data/market/, 6 symbols, 29,460 5m bars): CSV
  parsing, discovery, event-time merge, validation, gap/outlier flags, Bar construction, tick
  assembly, and ``codec.encode`` of every bar and watermark.
- ``resample_1m_to_5m``: XRPETH_1m.csv (2,469 real 1m rows) resampled to 706 5m bars.
- ``synthetic``: seeded GBM bars (no file parsing), 8 symbols.
- ``service_poll``: the same bundled replay through ``IngestService.poll`` (one tick per call, plus
  the per-tick state write the worker commits), still without Redis.

Stages of ``bundled_files`` are also timed alone (parsing only; core without encoding; encoding
only), so the cost of each layer is visible. Into Redis, the worker's transaction adds its own
cost: that is measured separately (bench/bus_hop.py).

    python bench/ingest_replay.py [--quick] [--repeat N]

Prints a table and writes bench/results/ingest_replay.json.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import table, write_results  # noqa: E402
from ridgeline_ingest.calendar import get_calendar  # noqa: E402
from ridgeline_ingest.interval import Interval  # noqa: E402
from ridgeline_ingest.pipeline import Ingestor  # noqa: E402
from ridgeline_ingest.replay import Replay  # noqa: E402
from ridgeline_ingest.service import IngestService  # noqa: E402
from ridgeline_ingest.settings import IngestSettings  # noqa: E402
from ridgeline_ingest.sources.base import BarSource  # noqa: E402
from ridgeline_ingest.sources.files import discover  # noqa: E402
from ridgeline_ingest.sources.synthetic import SyntheticSpec, synthetic_source  # noqa: E402
from ridgeline_shared import codec  # noqa: E402
from ridgeline_shared.config import load_settings  # noqa: E402
from ridgeline_shared.messages import Watermark  # noqa: E402
from ridgeline_shared.runtime.service import Outbox  # noqa: E402

DATA = ROOT / "data" / "market"
FIVE = Interval.parse("5m")
CRYPTO = get_calendar("24/7")


def run_core(make_source: Callable[[], BarSource], encode: bool) -> dict[str, int]:
    replay = Replay(make_source(), Ingestor(FIVE, CRYPTO, source="bench"))
    bars = ticks = encoded_bytes = 0
    while (tick := replay.next_tick()) is not None:
        ticks += 1
        bars += len(tick.bars)
        if encode:
            for bar in tick.bars:
                encoded_bytes += len(codec.encode(bar)[codec.FIELD])
            mark = Watermark(event_time=tick.event_time, trace_id="bench", producer="ingest")
            encoded_bytes += len(codec.encode(mark)[codec.FIELD])
    rows = sum(s.rows for s in replay.ingestor.stats.values())
    return {"rows": rows, "bars": bars, "ticks": ticks, "bytes": encoded_bytes}


def parse_only(paths: list[Path]) -> dict[str, int]:
    rows = 0
    for candidate in discover(paths, FIVE).chosen:
        for _ in candidate.open_rows():
            rows += 1
    return {"rows": rows, "bars": 0, "ticks": 0, "bytes": 0}


def service_poll() -> dict[str, int]:
    service = IngestService(load_settings(IngestSettings))
    bars = ticks = 0
    while True:
        out = Outbox()
        if not service.poll(out):
            break
        for op in out.ops:  # the state write of each tick, into a sink
            op(_Sink())  # type: ignore[arg-type]
        ticks += 1
        bars += sum(1 for _, m in out.messages if not isinstance(m, Watermark))
    return {"rows": service.status()["totals"]["rows"], "bars": bars, "ticks": ticks, "bytes": 0}


class _Sink:
    def hset(self, key: str, mapping: dict[str, Any]) -> None:
        pass


def encode_only(paths: list[Path]) -> tuple[Callable[[], dict[str, int]], int]:
    """Baseline: codec.encode alone of the very bars the replay publishes."""
    replay = Replay(discover(paths, FIVE).source(), Ingestor(FIVE, CRYPTO, source="bench"))
    bars = []
    while (tick := replay.next_tick()) is not None:
        bars.extend(tick.bars)

    def run() -> dict[str, int]:
        size = sum(len(codec.encode(b)[codec.FIELD]) for b in bars)
        return {"rows": 0, "bars": len(bars), "ticks": 0, "bytes": size}

    return run, len(bars)


def measure(name: str, fn: Callable[[], dict[str, int]], repeat: int) -> dict[str, Any]:
    seconds = []
    counts: dict[str, int] = {}
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        counts = fn()
        seconds.append(time.perf_counter() - started)
    best, median = min(seconds), statistics.median(seconds)
    unit = counts["bars"] or counts["rows"]
    return {
        "scenario": name,
        **counts,
        "runs": repeat,
        "best_seconds": round(best, 4),
        "median_seconds": round(median, 4),
        "bars_per_s_best": round(counts["bars"] / best, 1) if counts["bars"] else None,
        "bars_per_s_median": round(counts["bars"] / median, 1) if counts["bars"] else None,
        "rows_per_s_median": round(counts["rows"] / median, 1) if counts["rows"] else None,
        "us_per_bar_median": round(median / unit * 1e6, 2) if unit else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller synthetic run")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    repeat = args.repeat or (2 if args.quick else 5)
    synthetic_bars = 5_000 if args.quick else 25_000
    bundled = [DATA]
    one_minute = [DATA / "XRPETH_1m.csv"]
    encode_baseline, _ = encode_only(bundled)
    spec = SyntheticSpec(symbols=[f"SYN{i}" for i in range(8)], bars=synthetic_bars, interval_minutes=5)

    def files(paths: list[Path]) -> Callable[[], BarSource]:
        return lambda: discover(paths, FIVE).source()

    results = [
        measure("bundled_files", lambda: run_core(files(bundled), True), repeat),
        measure("bundled_files_no_encode", lambda: run_core(files(bundled), False), repeat),
        measure("bundled_parse_only", lambda: parse_only(bundled), repeat),
        measure("bundled_encode_only", encode_baseline, repeat),
        measure("resample_1m_to_5m", lambda: run_core(files(one_minute), True), repeat),
        measure("synthetic", lambda: run_core(lambda: synthetic_source(spec), True), repeat),
        measure("service_poll", service_poll, max(1, repeat // 2)),
    ]
    rows = [("scenario", "rows", "bars", "ticks", "median s", "bars/s (median)", "bars/s (best)", "us/bar")]
    for r in results:
        rows.append(
            (
                r["scenario"],
                str(r["rows"]),
                str(r["bars"]),
                str(r["ticks"]),
                f"{r['median_seconds']:.3f}",
                "-" if r["bars_per_s_median"] is None else f"{r['bars_per_s_median']:,.0f}",
                "-" if r["bars_per_s_best"] is None else f"{r['bars_per_s_best']:,.0f}",
                "-" if r["us_per_bar_median"] is None else f"{r['us_per_bar_median']:.1f}",
            )
        )
    print(table(rows))
    headline = next(r for r in results if r["scenario"] == "bundled_files")
    path = write_results(
        "ingest_replay",
        {
            "quick": args.quick,
            "what": "rows -> validated Bar messages -> codec.encode, pure core, no Redis, one process",
            "headline_bars_per_s": headline["bars_per_s_median"],
            "results": results,
        },
    )
    rate = headline["bars_per_s_median"]
    print(f"\nreplay throughput (bundled data, parse+validate+encode): {rate:,.0f} bars/s")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
