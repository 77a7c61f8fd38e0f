"""Backtest report of a run: equity curve, MATH.md s.4 metrics, per-horizon and per-family
attribution, as ``report.html`` (self-contained) and ``metrics.json``.

Pure core: ``metrics`` (ledger replay and ratios), ``attribution``, ``analysis``, ``document``;
I/O: ``collect`` (Redis streams), ``render`` (files), ``build`` (both)."""

from ridgeline.report.analysis import Analysis, analyse
from ridgeline.report.attribution import UNATTRIBUTED, Attribution, PnlBucket, attribute
from ridgeline.report.build import build_report
from ridgeline.report.collect import load_run
from ridgeline.report.config import ReportConfig
from ridgeline.report.document import METRIC_KEYS, metrics_document, summary_lines
from ridgeline.report.metrics import Metrics, Replay, compute_metrics, replay
from ridgeline.report.render import ReportPaths, write_report
from ridgeline.report.run_data import RunData

__all__ = [
    "METRIC_KEYS",
    "UNATTRIBUTED",
    "Analysis",
    "Attribution",
    "Metrics",
    "PnlBucket",
    "Replay",
    "ReportConfig",
    "ReportPaths",
    "RunData",
    "analyse",
    "attribute",
    "build_report",
    "compute_metrics",
    "load_run",
    "metrics_document",
    "replay",
    "summary_lines",
    "write_report",
]
