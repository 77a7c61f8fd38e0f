"""``ridgeline report`` / ``python -m ridgeline.report``: the report of a run held in Redis.

With ``--wait`` it first waits for the run's end of data (the executor's end-of-data watermark),
which is how the compose stack's reporter writes the report when the replay finishes.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

import redis

from ridgeline.report.build import build_report
from ridgeline.report.config import ReportConfig
from ridgeline.report.document import summary_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--prefix", default="ridgeline")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="directory for report.html and metrics.json")
    parser.add_argument("--title", default=None)
    parser.add_argument("--wait", action="store_true", help="wait for the run's end of data first")
    parser.add_argument("--initial-cash", type=Decimal, default=ReportConfig().initial_cash)
    parser.add_argument("--periods-per-year", type=float, default=None, help="default: from the bar interval")
    parser.add_argument("--session-minutes", type=int, default=ReportConfig().session_minutes)
    parser.add_argument("--sessions-per-year", type=int, default=ReportConfig().sessions_per_year)


def run(args: argparse.Namespace) -> int:
    from ridgeline.replay import end_of_data
    from ridgeline_shared.keys import Keys

    if args.wait:
        keys = Keys(args.prefix, args.shard)
        while True:
            try:
                if end_of_data(redis.Redis.from_url(args.redis_url), keys):
                    break
            except redis.RedisError:
                pass
            time.sleep(1.0)
    config = ReportConfig(
        initial_cash=args.initial_cash,
        periods_per_year=args.periods_per_year,
        session_minutes=args.session_minutes,
        sessions_per_year=args.sessions_per_year,
    )
    paths = build_report(
        args.redis_url, args.prefix, args.out, shard=args.shard, title=args.title, config=config
    )
    for line in summary_lines(paths.metrics):
        print(line)
    print(f"Report: {paths.html}\nMetrics: {paths.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ridgeline.report", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
