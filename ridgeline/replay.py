"""``ridgeline run``: replay the bundled data through the five services with paper fills, then
write the backtest report. ``ridgeline up``: the same stack, left running (paper or live)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from ridgeline.launcher import PORTS, LaunchError, Stack
from ridgeline.report import build_report, summary_lines
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Watermark

# The bundled BTC-quoted pairs share one period (January 2018); XRPETH is from October 2019.
DEFAULT_SYMBOLS = "ADABTC,ETHBTC,LTCBTC,TRXBTC,XLMBTC"
BUNDLED_CONFIG = Path(__file__).resolve().parents[1] / "config" / "bundled-replay.yaml"


def config_environment(choice: str | None) -> dict[str, str]:
    """RIDGELINE_CONFIG for the services: the option, else the environment's, else the bundled one."""
    if choice == "none":
        return {"RIDGELINE_CONFIG": ""}
    if choice:
        return {"RIDGELINE_CONFIG": str(Path(choice).resolve())}
    if os.environ.get("RIDGELINE_CONFIG") or not BUNDLED_CONFIG.is_file():
        return {}
    return {"RIDGELINE_CONFIG": str(BUNDLED_CONFIG)}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def end_of_data(client: redis.Redis, keys: Keys, stream: Stream = Stream.EXECUTIONS) -> bool:
    """Whether the executor has closed the run (its end-of-data watermark on executions)."""
    entries: Any = client.xrevrange(keys.stream(stream), count=20)
    for _, fields in entries:
        for message in codec.messages_of(stream, fields):
            if isinstance(message, Watermark) and message.end_of_data:
                return True
    return False


def _progress(stack: Stack, client: redis.Redis, keys: Keys) -> str:
    status = stack.status()
    parts = []
    for name in PORTS:
        runtime = (status.get(name) or {}).get("runtime") or {}
        tick = (runtime.get("last_tick") or "-")[:16]
        parts.append(f"{name} {tick}")
    counts = {s.value: client.xlen(keys.stream(s)) for s in (Stream.ORDERS, Stream.EXECUTIONS)}
    return " | ".join(parts) + f" | entries: orders {counts['orders']} executions {counts['executions']}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="run folder (default runs/<UTC time>)")
    parser.add_argument("--redis-url", help="use this Redis instead of starting an embedded one")
    parser.add_argument("--data", type=Path, help="folder of bar files to replay (default: the bundled data)")
    parser.add_argument(
        "--symbols",
        default=DEFAULT_SYMBOLS,
        help=f"comma-separated symbols to replay, or 'all' (default: {DEFAULT_SYMBOLS}, one period)",
    )
    parser.add_argument(
        "--config",
        default=None,
        help=f"YAML configuration for every service (default: $RIDGELINE_CONFIG, else {BUNDLED_CONFIG.name}; "
        "'none' for the built-in defaults)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo the services' logs")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")


def _environment(args: argparse.Namespace, mode: str) -> dict[str, str]:
    env = {"RIDGELINE_MODE": mode, **config_environment(args.config)}
    if args.data:
        env["RIDGELINE_INGEST__PATHS"] = str(args.data.resolve())
    if args.symbols and args.symbols != "all":
        env["RIDGELINE_INGEST__SYMBOLS"] = args.symbols
    return env


def _supervised(args: argparse.Namespace, mode: str, body: Callable[[Stack], int], on_interrupt: int) -> int:
    """Start the stack, run ``body``, and stop everything whatever happens (Ctrl-C, SIGTERM, a
    service dying): the one place the launcher's exit statuses are decided."""
    run_dir = args.out or Path("runs") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    stack = Stack(run_dir, _environment(args, mode), redis_url=args.redis_url, quiet_logs=args.quiet)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start()
        return body(stack)
    except LaunchError as exc:
        print(f"ridgeline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the services", file=sys.stderr)
        return on_interrupt
    finally:
        stack.stop()


def run(args: argparse.Namespace) -> int:
    """Replay to end of data, write the report, stop everything. Exit status 0 on success."""
    keys = Keys(os.environ.get("RIDGELINE_PREFIX", "ridgeline"))

    def replay_and_report(stack: Stack) -> int:
        client = redis.Redis.from_url(stack.redis_url)
        started, shown = time.monotonic(), 0.0
        while not end_of_data(client, keys):
            if dead := stack.dead():
                raise LaunchError(
                    f"service(s) died during the replay: {', '.join(dead)} (see {stack.run_dir}/logs)"
                )
            if time.monotonic() - started > args.timeout:
                raise LaunchError(f"replay did not finish within {args.timeout:.0f}s")
            if time.monotonic() - shown > 2.0:
                print(f"progress: {_progress(stack, client, keys)}", flush=True)
                shown = time.monotonic()
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        print(f"replay finished in {elapsed:.1f}s: {_progress(stack, client, keys)}")
        paths = build_report(stack.redis_url, keys.prefix, stack.run_dir / "report")
        for line in summary_lines(paths.metrics):
            print(line)
        print(f"report: {paths.html}\nmetrics: {paths.json}")
        return 0

    return _supervised(args, "replay", replay_and_report, on_interrupt=130)


def up(args: argparse.Namespace) -> int:
    """Start the stack and keep it running until Ctrl-C (paper or live trading, or a replay)."""

    def serve(stack: Stack) -> int:
        print(f"control token: {stack.token}  (Authorization: Bearer <token>)")
        while not (dead := stack.dead()):
            time.sleep(0.5)
        print(f"ridgeline: service(s) stopped: {', '.join(dead)}", file=sys.stderr)
        return 1

    return _supervised(args, args.mode, serve, on_interrupt=0)
