"""``ridgeline``: the project's console command."""

from __future__ import annotations

import argparse
import contextlib
import sys

from ridgeline import replay


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ridgeline", description="Ridgeline trading system")
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="replay the bundled data through all five services and write the report")
    replay.add_arguments(run)
    run.set_defaults(func=replay.run)
    up = sub.add_parser("up", help="start Redis and the five services and keep them running")
    replay.add_arguments(up)
    up.add_argument("--mode", choices=("replay", "paper", "live"), default="paper")
    up.set_defaults(func=replay.up)
    with contextlib.suppress(ImportError):
        from ridgeline.backtest import register as register_backtest

        register_backtest(sub)
    with contextlib.suppress(ImportError):
        from ridgeline.ops.cli import register as register_ops

        register_ops(sub)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
