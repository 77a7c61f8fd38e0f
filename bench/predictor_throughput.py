"""Predictor throughput: symbol-bars per second through the serving core (bars in, Predictions
messages out: buffers, features, one onnxruntime call per model, standardisation, confidence,
messages) against the raw onnxruntime calls alone on the same feature rows, in the same run.

    python bench/predictor_throughput.py [--ticks-scale 1.0]

Writes bench/results/predictor_throughput.json. Both sides use the same sessions (one intra-op
thread, spinning off), the same 20 bundled models and the same inputs; each figure is the best of
``--repeat`` interleaved runs (the core restarts from the same snapshot each time). A third
figure, the core without building message objects, shows where the core's own time goes; every
figure is also given as microseconds per symbol-bar (CPU of one core: the loop is single-threaded)
and per tick, whose floor at one symbol is the session runs themselves. The core runs its models
as one composed graph (ridgeline_predictor.composed); "per-model" is the core with one session run
per model (``onnx_compose=False``, the same outputs) and "raw composed" the composed run alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ridgeline_predictor.composed import INPUT, OUTPUT, Composition
from ridgeline_predictor.config import PredictorConfig, bundled_models_dir
from ridgeline_predictor.core import PredictorCore
from ridgeline_predictor.registry import SessionSettings, load_registry
from ridgeline_predictor.training.data import History, load_dir
from ridgeline_shared.config import DEFAULT_HORIZONS
from ridgeline_shared.messages import Bar, Predictions

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "market"
OUT = REPO / "bench" / "results" / "predictor_throughput.json"
BATCHES = (1, 100, 1000)
TICKS = {1: 2000, 100: 200, 1000: 40}
WARMUP_TICKS = 160  # lookback (145 bars) plus a few predictions


def make_ticks(histories: list[History], symbols: int, n_ticks: int) -> list[list[Bar]]:
    """``symbols`` synthetic symbols on one timeline, each replaying a real history from its own
    offset, so windows differ across symbols as in a real universe."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=5)
    out: list[list[Bar]] = []
    for k in range(n_ticks):
        close = start + step * (k + 1)
        tick = []
        for i in range(symbols):
            h = histories[i % len(histories)]
            o, hi, lo, c, v = h.bars[(i * 37 + k) % (len(h) - 1)]
            tick.append(
                Bar(event_time=close, trace_id=f"S{i:04d}@{k}", symbol=f"S{i:04d}", interval="5m",
                    open_time=close - step, open=o, high=hi, low=lo, close=c, volume=v, received_at=close)
            )  # fmt: skip
        out.append(tick)
    return out


def run_core(core: PredictorCore, ticks: list[list[Bar]], record: list[np.ndarray] | None = None) -> int:
    messages = 0
    for tick in ticks:
        for bar in tick:
            core.add(bar)
        messages += len(core.tick())
        if record is not None:
            record.append(core.last_features[1].astype(np.float32))
    return messages


def run_raw(
    sessions: list[tuple[ort.InferenceSession, str, str, list[int] | None]], inputs: list[np.ndarray]
) -> None:
    for X in inputs:
        for session, in_name, out_name, cols in sessions:
            session.run([out_name], {in_name: X if cols is None else np.ascontiguousarray(X[:, cols])})


def run_composed(composition: Composition, inputs: list[np.ndarray]) -> None:
    run = composition.session.run
    for X in inputs:
        run([OUTPUT], {INPUT: X})


class ComputeOnlyCore(PredictorCore):
    """The core without building message objects: features, inference, standardisation, IC and
    confidence only (splits the core's cost between numerics and pydantic messages)."""

    def _messages(self, bars: list[Bar], *_: object) -> list[Predictions]:
        return [None] * len(bars)  # type: ignore[list-item]


def bench(symbols: int, scale: float, repeat: int, histories: list[History]) -> dict[str, float]:
    registry = load_registry(bundled_models_dir(), "5m", 1440, DEFAULT_HORIZONS, SessionSettings())
    core = PredictorCore(PredictorConfig(), "5m", 1440, registry)
    compute = ComputeOnlyCore(PredictorConfig(), "5m", 1440, registry)
    per_model = PredictorCore(PredictorConfig(onnx_compose=False), "5m", 1440, registry)
    composition = core.plan.composition
    assert composition is not None and not core.plan.alone, "every bundled model composes"
    n_ticks = max(5, int(TICKS[symbols] * scale))
    all_ticks = make_ticks(histories, symbols, WARMUP_TICKS + n_ticks)
    run_core(core, all_ticks[:WARMUP_TICKS])
    snapshot = core.snapshot()
    measured = all_ticks[WARMUP_TICKS:]
    inputs: list[np.ndarray] = []
    core.restore(snapshot)
    run_core(core, measured, inputs)  # records the feature rows the raw calls get
    features = list(core.plan.features)
    sessions = []
    for model in registry.models.values():
        names = model.manifest.features
        cols = None if names == features else [features.index(n) for n in names]
        sessions.append((model.session, model.manifest.input_name, model.manifest.output_name, cols))
    # The inputs are built up front; freezing them keeps the collector from re-scanning them on
    # every collection, which a live service (holding state in numpy arrays) would not do either.
    gc.collect()
    gc.freeze()
    best = dict.fromkeys(("core", "compute", "per_model", "raw", "raw_composed"), float("inf"))
    for _ in range(repeat):  # interleaved, so machine noise hits all alike
        core.restore(snapshot)
        t0 = time.perf_counter()
        assert run_core(core, measured) == symbols * n_ticks
        best["core"] = min(best["core"], time.perf_counter() - t0)
        compute.restore(snapshot)
        t0 = time.perf_counter()
        run_core(compute, measured)
        best["compute"] = min(best["compute"], time.perf_counter() - t0)
        per_model.restore(snapshot)
        t0 = time.perf_counter()
        run_core(per_model, measured)
        best["per_model"] = min(best["per_model"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_raw(sessions, inputs)
        best["raw"] = min(best["raw"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_composed(composition, inputs)
        best["raw_composed"] = min(best["raw_composed"], time.perf_counter() - t0)
    gc.unfreeze()
    bars = symbols * n_ticks
    us = {k: round(v / bars * 1e6, 2) for k, v in best.items()}
    return {
        "symbols_per_batch": symbols,
        "ticks": n_ticks,
        "models": len(registry.models),
        "core_symbol_bars_per_s": round(bars / best["core"], 1),
        "core_compute_only_symbol_bars_per_s": round(bars / best["compute"], 1),
        "raw_onnx_symbol_bars_per_s": round(bars / best["raw"], 1),
        "core_ms_per_tick": round(best["core"] / n_ticks * 1e3, 3),
        "core_compute_only_ms_per_tick": round(best["compute"] / n_ticks * 1e3, 3),
        "raw_onnx_ms_per_tick": round(best["raw"] / n_ticks * 1e3, 3),
        "core_per_model_ms_per_tick": round(best["per_model"] / n_ticks * 1e3, 3),
        "raw_composed_ms_per_tick": round(best["raw_composed"] / n_ticks * 1e3, 3),
        "core_per_model_us_per_symbol_bar": us["per_model"],
        "raw_composed_us_per_symbol_bar": us["raw_composed"],
        "core_us_per_symbol_bar": us["core"],
        "core_compute_only_us_per_symbol_bar": us["compute"],
        "messages_us_per_symbol_bar": round(us["core"] - us["compute"], 2),
        "raw_onnx_us_per_symbol_bar": us["raw"],
        "ratio_core_to_raw": round(best["raw"] / best["core"], 3),
        "ratio_compute_only_to_raw": round(best["raw"] / best["compute"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks-scale", type=float, default=1.0, help="scale the measured ticks")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES), choices=BATCHES)
    args = parser.parse_args()
    data = DATA if DATA.is_dir() else REPO.parent / "shared" / "data" / "market"
    histories, _ = load_dir(data, "5m", (), 2880)
    rows = [bench(n, args.ticks_scale, args.repeat, histories) for n in args.batches]
    print(
        f"{'symbols/batch':>13} {'ticks':>6} {'core bars/s':>12} {'compute-only':>13} {'raw ORT':>10} "
        f"{'core ms/tick':>13} {'raw ms/tick':>12} {'core/raw':>9} {'compute/raw':>12}"
    )
    for r in rows:
        print(
            f"{r['symbols_per_batch']:>13} {r['ticks']:>6} {r['core_symbol_bars_per_s']:>12,.0f} "
            f"{r['core_compute_only_symbol_bars_per_s']:>13,.0f} {r['raw_onnx_symbol_bars_per_s']:>10,.0f} "
            f"{r['core_ms_per_tick']:>13.3f} {r['raw_onnx_ms_per_tick']:>12.3f} "
            f"{r['ratio_core_to_raw']:>9.3f} {r['ratio_compute_only_to_raw']:>12.3f}"
        )
    print(
        f"\n{'symbols/batch':>13} {'us per symbol-bar:':>20} "
        f"{'core':>8} {'compute':>8} {'messages':>9} {'raw ORT':>8} "
        f"{'per-model core':>15} {'raw composed':>13}"
    )
    for r in rows:
        print(
            f"{r['symbols_per_batch']:>13} {'':>20} {r['core_us_per_symbol_bar']:>8.1f} "
            f"{r['core_compute_only_us_per_symbol_bar']:>8.1f} {r['messages_us_per_symbol_bar']:>9.1f} "
            f"{r['raw_onnx_us_per_symbol_bar']:>8.1f} {r['core_per_model_us_per_symbol_bar']:>15.1f} "
            f"{r['raw_composed_us_per_symbol_bar']:>13.1f}"
        )
    result = {
        "benchmark": "predictor_throughput",
        "unit": "symbol-bars per second",
        "ratio": "core throughput / raw onnxruntime throughput on the same inputs (1.0 = no overhead)",
        "core": "bars -> validated Predictions (buffers, features, inference, z-scores, IC, confidence)",
        "compute_only": "the core without building the pydantic messages",
        "messages": "core - compute_only: building the Predictions objects (no validation)",
        "raw_onnx": "session.run of every model on the feature rows the core computed, nothing else",
        "core_per_model": "the core with one session run per model (onnx_compose=False)",
        "raw_composed": "the one composed session.run per tick on the same rows, nothing else",
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "session": {"intra_op_num_threads": 1, "inter_op_num_threads": 1, "allow_spinning": False},
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
