"""``ridgeline``: the project's console command."""

from __future__ import annotations

import argparse
import sys

from ridgeline import backtest, replay
from ridgeline.ops.cli import register as register_ops
from ridgeline.report import __main__ as report_command


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
    test = sub.add_parser("backtest", help="run the service cores in one process, without Redis, and report")
    backtest.add_arguments(test)
    test.set_defaults(func=backtest.run)
    report = sub.add_parser("report", help="write the report of a run held in Redis")
    report_command.add_arguments(report)
    report.set_defaults(func=report_command.run)
    register_ops(sub)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
