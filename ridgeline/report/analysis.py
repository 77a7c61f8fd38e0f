"""Everything a report shows, computed once from a run (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from ridgeline.report.attribution import Attribution, attribute
from ridgeline.report.config import ReportConfig
from ridgeline.report.metrics import Metrics, Replay, compute_metrics, replay
from ridgeline.report.run_data import RunData


@dataclass(frozen=True, slots=True)
class Analysis:
    replay: Replay
    metrics: Metrics
    attribution: Attribution


def analyse(run: RunData, config: ReportConfig | None = None) -> Analysis:
    config = config or ReportConfig()
    done = replay(run, config.initial_cash)
    metrics = compute_metrics(run, config, done)
    attribution = attribute(run, done.marks)
    if attribution.total_pnl != metrics.total_pnl:
        # Both are exact sums of the same fills and marks: a difference is a bug, never noise.
        raise RuntimeError(f"attribution {attribution.total_pnl} != ledger PnL {metrics.total_pnl}")
    return Analysis(done, metrics, attribution)
