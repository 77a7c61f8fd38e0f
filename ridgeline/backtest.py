"""``ridgeline backtest``: the five services' cores wired in one process, without Redis.

The same handlers, tick merger and tick runner as the distributed pipeline (see
``ridgeline_shared.runtime.inprocess``), fed by the same ingest source and configuration
(``RIDGELINE_*`` and ``RIDGELINE_CONFIG``), so the order stream equals a distributed run's on the
same data. For research: no processes, no network, one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ridgeline.replay import DEFAULT_SYMBOLS, config_environment
from ridgeline.report import RunData, summary_lines, write_report
from ridgeline_shared.config import ConfigError, load_settings
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Message
from ridgeline_shared.runtime.inprocess import InProcessPipeline
from ridgeline_shared.runtime.main import tune_gc
from ridgeline_shared.runtime.service import Service


def build_services() -> list[Service]:
    """Every service with its settings read as the distributed services read theirs.

    The service packages are imported here, not at module level, so the operator image (report
    and CLI, no service packages) can still load this module's command-line arguments.
    """
    from ridgeline_blender.config import BlenderSettings
    from ridgeline_blender.service import BlenderService
    from ridgeline_executor.config import ExecutorSettings
    from ridgeline_executor.service import ExecutorService
    from ridgeline_ingest.service import IngestService
    from ridgeline_ingest.settings import IngestSettings
    from ridgeline_predictor.config import PredictorSettings
    from ridgeline_predictor.service import PredictorService
    from ridgeline_risk.config import RiskSettings
    from ridgeline_risk.service import RiskService

    return [
        IngestService(load_settings(IngestSettings)),
        PredictorService(load_settings(PredictorSettings)),
        BlenderService(load_settings(BlenderSettings)),
        RiskService(load_settings(RiskSettings)),
        ExecutorService(load_settings(ExecutorSettings)),
    ]


def run_in_process() -> dict[Stream, list[Message]]:
    services = build_services()
    tune_gc()
    return InProcessPipeline(services).run()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="report folder (default runs/backtest-<UTC time>/report)")
    parser.add_argument("--data", type=Path, help="folder of bar files (default: the bundled data)")
    parser.add_argument("--symbols", default=DEFAULT_SYMBOLS, help="comma-separated symbols, or 'all'")
    parser.add_argument("--max-bars", type=int, help="stop after this many bars")
    parser.add_argument("--config", default=None, help="YAML configuration ('none': built-in defaults)")


def run(args: argparse.Namespace) -> int:
    if args.data:
        os.environ["RIDGELINE_INGEST__PATHS"] = str(args.data.resolve())
    if args.symbols and args.symbols != "all":
        os.environ["RIDGELINE_INGEST__SYMBOLS"] = args.symbols
    os.environ.update(config_environment(args.config))
    if args.max_bars:
        os.environ["RIDGELINE_INGEST__MAX_BARS"] = str(args.max_bars)
    os.environ.setdefault("RIDGELINE_MODE", "replay")
    out = args.out or Path("runs") / time.strftime("backtest-%Y%m%dT%H%M%SZ", time.gmtime()) / "report"
    started = time.perf_counter()
    try:
        streams = run_in_process()
    except ConfigError as exc:
        print(f"ridgeline: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    bars = sum(isinstance(m, Bar) for m in streams[Stream.BARS])
    print(f"in-process backtest: {bars} bars in {elapsed:.1f}s ({bars / max(elapsed, 1e-9):,.0f} bars/s)")
    run_data = RunData.from_messages(
        bars=streams[Stream.BARS],
        signals=streams[Stream.SIGNALS],
        orders=streams[Stream.ORDERS],
        executions=streams[Stream.EXECUTIONS],
        risk_events=streams[Stream.RISK_EVENTS],
    )
    paths = write_report(run_data, out, title="Ridgeline in-process backtest")
    for line in summary_lines(paths.metrics):
        print(line)
    print(f"report: {paths.html}\nmetrics: {paths.json}")
    return 0
