"""What the wire format costs per symbol-bar, and what code costs after the CPU has idled.

Two floors the pipeline cannot go below on this machine, whatever the services do:

1. **Codec.** The messages of a replay of the bundled data (the in-process backtest, last
   ``--sample`` messages of each stream; orders start after the models' warm-up, so the whole
   bundled set is replayed by default) are framed and decoded as the services do
   (``codec.encode_frame`` / ``codec.decode_entry``: JSON, every message validated into its
   pydantic model). Baseline, same bytes, same run: ``orjson.loads`` (parsing alone, no models).
   Per symbol-bar, a bar is decoded by its four readers, predictions once, signals once,
   executions twice (risk and blender); with the streams' messages per symbol-bar from the replay
   that gives the codec's CPU per symbol-bar, and the throughput its cost alone allows on this
   machine's cores (no Redis, no trading logic).
2. **Idle penalty.** One signal decoded hot (back to back) against the same decode after the
   thread slept 1 / 5 / 50 ms: a paced pipeline (one burst every 50 ms) runs every tick of every
   service after such a sleep, so its latency is its code's cold cost, not its hot one.

    python -m bench.codec [--sample N]

Prints a table and writes bench/results/codec.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import TypeAdapter

from bench.common import table, write_results
from ridgeline_shared import codec
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Message, Watermark

# Services reading each stream (their ``inputs``): a message is decoded once per reader.
READERS = {
    Stream.BARS: ("predictor", "blender", "risk", "executor"),
    Stream.PREDICTIONS: ("blender",),
    Stream.SIGNALS: ("risk",),
    Stream.ORDERS: ("executor",),
    Stream.EXECUTIONS: ("risk", "blender"),
}
IDLE_MS = (1, 5, 50)
COLUMNS: TypeAdapter[dict[str, list[float | int | str | bool | None]]] = TypeAdapter(
    dict[str, list[float | int | str | bool | None]]
)


def replay_messages(max_bars: int | None) -> dict[Stream, list[Message]]:
    """Every message the in-process backtest publishes on the bundled data (replay config)."""
    from ridgeline.replay import DEFAULT_SYMBOLS, config_environment

    os.environ.update(config_environment(None))
    os.environ["RIDGELINE_INGEST__SYMBOLS"] = DEFAULT_SYMBOLS
    if max_bars:
        os.environ["RIDGELINE_INGEST__MAX_BARS"] = str(max_bars)
    os.environ.setdefault("RIDGELINE_MODE", "replay")
    os.environ.setdefault("RIDGELINE_LOG_LEVEL", "WARNING")
    from ridgeline.backtest import run_in_process

    return {s: [m for m in ms if not isinstance(m, Watermark)] for s, ms in run_in_process().items()}


def per_call_us(fn: Callable[[], object], calls: int, repeat: int = 5) -> float:
    """Best of ``repeat`` timings of ``calls`` back-to-back calls, in microseconds per call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def _leaves(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _leaves(item, f"{path}[{i}]", out)
    else:
        out[path] = value


def columns_of(messages: list[Message]) -> dict[str, list[Any]]:
    """The frame as columns: one list per leaf field (``.entries[3].zscore``) across messages."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for message in messages:
        flat: dict[str, Any] = {}
        _leaves(message.model_dump(mode="json"), "", flat)
        for path, value in flat.items():
            columns[path].append(value)
    return dict(columns)


def stream_costs(stream: Stream, messages: list[Message]) -> dict[str, float]:
    frame = codec.encode_frame(messages)
    raw = frame[codec.FRAME_FIELD]
    n = len(messages)
    decode = per_call_us(lambda: codec.decode_entry(stream, frame), 1) / n
    parse = per_call_us(lambda: orjson.loads(raw), 1) / n
    # The same values laid out per column and validated as typed lists (no per-message objects):
    # what a columnar wire format would cost, for comparison only (no service reads it).
    columns = columns_of(messages)
    columnar = orjson.dumps(columns)
    return {
        "messages": n,
        "bytes_per_message": len(raw) / n,
        "encode_us": per_call_us(lambda: codec.encode_frame(messages), 1) / n,
        "decode_us": decode,
        "orjson_parse_us": parse,
        "decode_vs_parse": decode / parse,
        "columnar_bytes_per_message": len(columnar) / n,
        "columnar_encode_us": per_call_us(lambda: orjson.dumps(columns), 1) / n,
        "columnar_decode_us": per_call_us(lambda: COLUMNS.validate_json(columnar), 1) / n,
    }


def idle_penalty(stream: Stream, message: Message, samples: int) -> dict[str, Any]:
    """p50 of one decode hot and after each idle time; ratio = after idle / hot."""
    frame = codec.encode_frame([message])

    def once() -> int:
        started = time.perf_counter_ns()
        codec.decode_entry(stream, frame)
        return time.perf_counter_ns() - started

    for _ in range(200):
        once()
    hot = statistics.median(once() for _ in range(samples * 4)) / 1e3
    out: dict[str, Any] = {"message": stream.value, "hot_us": hot}
    for idle in IDLE_MS:
        cold = []
        for _ in range(samples):
            time.sleep(idle / 1e3)
            cold.append(once())
        out[f"after_{idle}ms_us"] = statistics.median(cold) / 1e3
        out[f"after_{idle}ms_vs_hot"] = out[f"after_{idle}ms_us"] / hot
    return out


def measure(max_bars: int | None, sample: int, idle_samples: int) -> dict[str, Any]:
    everything = replay_messages(max_bars)
    symbol_bars = len(everything[Stream.BARS])
    streams: dict[str, dict[str, float]] = {}
    per_sb = 0.0
    for stream, readers in READERS.items():
        messages = everything[stream]
        if not messages:
            raise SystemExit(f"the replay of {max_bars} bars published no {stream.value}: raise --max-bars")
        costs = stream_costs(stream, messages[-sample:])
        costs["per_symbol_bar"] = len(messages) / symbol_bars
        costs["readers"] = len(readers)
        one = costs["encode_us"] + len(readers) * costs["decode_us"]
        costs["us_per_symbol_bar"] = costs["per_symbol_bar"] * one
        one = costs["columnar_encode_us"] + len(readers) * costs["columnar_decode_us"]
        costs["columnar_us_per_symbol_bar"] = costs["per_symbol_bar"] * one
        per_sb += costs["us_per_symbol_bar"]
        streams[stream.value] = costs
    parse_per_sb = sum(c["per_symbol_bar"] * c["readers"] * c["orjson_parse_us"] for c in streams.values())
    columnar_per_sb = sum(c["columnar_us_per_symbol_bar"] for c in streams.values())
    cores = os.cpu_count() or 1
    return {
        "replay_symbol_bars": symbol_bars,
        "sample_per_stream": sample,
        "streams": streams,
        "codec_us_per_symbol_bar": per_sb,
        "baseline_parse_us_per_symbol_bar": parse_per_sb,
        "cores": cores,
        # Every core doing nothing but encoding and decoding.
        "codec_ceiling_symbol_bars_per_s": cores * 1e6 / per_sb,
        "columnar_us_per_symbol_bar": columnar_per_sb,
        "columnar_ceiling_symbol_bars_per_s": cores * 1e6 / columnar_per_sb,
        "idle_penalty": idle_penalty(Stream.SIGNALS, everything[Stream.SIGNALS][-1], idle_samples),
    }


def print_table(result: dict[str, Any]) -> None:
    header = ("stream", "msgs/sb", "bytes/msg", "encode us", "decode us", "orjson us", "decode/parse",
              "readers", "codec us/sb", "columnar enc/dec us", "columnar us/sb")  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    for name, c in result["streams"].items():
        rows.append((
            name,
            f"{c['per_symbol_bar']:.2f}",
            f"{c['bytes_per_message']:,.0f}",
            f"{c['encode_us']:.1f}",
            f"{c['decode_us']:.1f}",
            f"{c['orjson_parse_us']:.1f}",
            f"{c['decode_vs_parse']:.1f}x",
            str(int(c["readers"])),
            f"{c['us_per_symbol_bar']:.1f}",
            f"{c['columnar_encode_us']:.1f}/{c['columnar_decode_us']:.1f}",
            f"{c['columnar_us_per_symbol_bar']:.1f}",
        ))  # fmt: skip
    print("Codec per message (frames of the replay's messages) and per symbol-bar through the pipeline")
    print(table(rows))
    print(
        f"codec total {result['codec_us_per_symbol_bar']:.0f} us per symbol-bar"
        f" (parse-only baseline {result['baseline_parse_us_per_symbol_bar']:.0f}):"
        f" at most {result['codec_ceiling_symbol_bars_per_s']:,.0f} symbol-bars/s on"
        f" {result['cores']} cores doing nothing else; laid out in columns"
        f" {result['columnar_us_per_symbol_bar']:.0f} us"
        f" ({result['columnar_ceiling_symbol_bars_per_s']:,.0f} symbol-bars/s)"
    )
    idle = result["idle_penalty"]
    after = ", ".join(
        f"after {ms} ms idle {idle[f'after_{ms}ms_us']:.0f} us ({idle[f'after_{ms}ms_vs_hot']:.1f}x)"
        for ms in IDLE_MS
    )
    print(f"one {idle['message']} decode: hot {idle['hot_us']:.0f} us, {after}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-bars", type=int, help="replay only this many bundled bars (all by default)")
    parser.add_argument("--sample", type=int, default=1000, help="messages per stream, one frame")
    parser.add_argument("--idle-samples", type=int, default=60)
    args = parser.parse_args()
    result = measure(args.max_bars, args.sample, args.idle_samples)
    path = write_results("codec", result)
    print_table(result)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
