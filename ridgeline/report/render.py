"""The report files: ``report.html`` (self-contained: plotly.js is inlined, so it opens offline)
and ``metrics.json``."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from ridgeline.report.analysis import Analysis, analyse
from ridgeline.report.attribution import PnlBucket
from ridgeline.report.config import ReportConfig
from ridgeline.report.document import metrics_document
from ridgeline.report.metrics import Metrics, drawdown_series
from ridgeline.report.run_data import RunData

HTML_NAME = "report.html"
JSON_NAME = "metrics.json"
# Above this many points a line is drawn with WebGL, which stays responsive on year-long runs.
WEBGL_POINTS = 20_000

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;
color:#1f2933;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #d9e2ec}
.sub{color:#52606d;margin-top:0}.warn{background:#fff3c4;border:1px solid #f0b429;padding:8px 12px}
table{border-collapse:collapse;font-size:0.9em;margin:8px 0}
td,th{border:1px solid #d9e2ec;padding:4px 10px;text-align:right}th{background:#f0f4f8}
td:first-child,th:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:24px}
"""

_LABELS: tuple[tuple[str, str], ...] = (
    ("initial_cash", "Initial cash"),
    ("final_equity", "Final equity"),
    ("total_pnl", "Total PnL"),
    ("total_return", "Total return"),
    ("realized_pnl", "Realised PnL (average cost)"),
    ("unrealized_pnl", "Unrealised PnL"),
    ("sharpe", "Sharpe (annualised)"),
    ("periods_per_year", "Periods per year"),
    ("volatility_annualised", "Volatility (annualised)"),
    ("max_drawdown", "Max drawdown"),
    ("max_drawdown_amount", "Max drawdown (amount)"),
    ("drawdown_peak_time", "Drawdown peak"),
    ("drawdown_trough_time", "Drawdown trough"),
    ("drawdown_recovery_time", "Drawdown recovered"),
    ("traded_notional", "Traded notional"),
    ("average_equity", "Average equity"),
    ("turnover", "Turnover (notional / avg equity)"),
    ("hit_rate", "Hit rate (closed round trips)"),
    ("round_trips_closed", "Round trips closed"),
    ("round_trips_won", "Round trips won"),
    ("round_trips_open", "Round trips open"),
    ("commissions", "Commissions"),
    ("spread_impact_cost", "Spread + impact (est.)"),
    ("costs_paid", "Costs paid"),
    ("commission_bps", "Commissions (bps of traded)"),
    ("spread_impact_bps", "Spread + impact (bps of reference)"),
    ("costs_bps", "Costs (bps)"),
    ("signals", "Signals"),
    ("orders", "Order requests"),
    ("executor_commands", "Executor commands"),
    ("fills", "Fills"),
    ("duplicate_fills", "Duplicate fills skipped"),
    ("fills_without_reference", "Fills without reference price"),
    ("denials", "Denials"),
    ("guardrail_breaches", "Guardrail breaches"),
    ("final_trading_state", "Final trading state"),
    ("undecodable", "Undecodable entries skipped"),
)
_PERCENT = frozenset({"total_return", "max_drawdown", "hit_rate", "volatility_annualised"})


@dataclass(frozen=True, slots=True)
class ReportPaths:
    html: Path
    json: Path
    metrics: Metrics


def _cell(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or _empty_row(len(header))}</tbody></table>"


def _empty_row(width: int) -> str:
    return f'<tr><td colspan="{width}">none</td></tr>'


def _metric_value(key: str, value: Any) -> Any:
    if key in _PERCENT and value is not None:
        return f"{value * 100:.3f} %"
    if key in ("sharpe", "turnover") and value is not None:
        return f"{value:.4f}"
    if key.endswith("_bps") and value is not None:
        return f"{value:.2f}"
    return value


def _figure_html(fig: go.Figure) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))


def _line(**kwargs: Any) -> go.Scatter | go.Scattergl:
    kind = go.Scattergl if len(kwargs.get("x", ())) > WEBGL_POINTS else go.Scatter
    return kind(**kwargs)


def equity_figure(analysis: Analysis) -> go.Figure:
    curve = analysis.replay.curve
    times = [p.time for p in curve]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    fig.add_trace(
        _line(x=times, y=[float(p.equity) for p in curve], name="equity", mode="lines"), row=1, col=1
    )
    drawdown = [-100.0 * d for d in drawdown_series(curve)]
    fig.add_trace(
        _line(
            x=times, y=drawdown, name="drawdown %", mode="lines", fill="tozeroy", line={"color": "#c62828"}
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    fig.update_layout(title="Equity curve and drawdown", height=520, showlegend=False)
    return fig


def positions_figure(analysis: Analysis) -> go.Figure:
    curve = analysis.replay.curve
    times = [p.time for p in curve]
    symbols = sorted({s for p in curve for s, _ in p.positions})
    fig = go.Figure()
    for symbol in symbols:
        quantities = [float(dict(p.positions).get(symbol, 0)) for p in curve]
        fig.add_trace(_line(x=times, y=quantities, name=symbol, mode="lines", line={"shape": "hv"}))
    fig.update_layout(title="Positions (quantity) per symbol", height=360, yaxis_title="quantity")
    if not symbols:
        fig.add_annotation(text="no positions", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def attribution_figure(buckets: Mapping[str, PnlBucket], title: str) -> go.Figure:
    names = list(buckets)
    fig = go.Figure()
    fig.add_bar(x=names, y=[float(b.realized) for b in buckets.values()], name="realised")
    fig.add_bar(x=names, y=[float(b.unrealized) for b in buckets.values()], name="unrealised")
    fig.add_bar(x=names, y=[-float(b.commission) for b in buckets.values()], name="commissions")
    fig.add_scatter(
        x=names,
        y=[float(b.total) for b in buckets.values()],
        name="total",
        mode="markers",
        marker={"symbol": "diamond", "size": 12, "color": "black"},
    )
    fig.update_layout(title=title, barmode="relative", height=380, yaxis_title="PnL (quote currency)")
    return fig


def _attribution_rows(buckets: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [name, b["realized"], b["unrealized"], b["commission"], b["total"], b["fills"], b["traded_notional"]]
        for name, b in buckets.items()
    ]


def render_html(analysis: Analysis, document: Mapping[str, Any], title: str) -> str:
    """The whole page; ``document`` is metrics.json's content, so both show the same figures."""
    doc = document
    warn = ""
    if not doc["finished"]:
        warn = '<p class="warn">The run has not finished (no end of data on executions): partial report.</p>'
    attribution_header = [
        "bucket",
        "realised",
        "unrealised",
        "commission",
        "total",
        "fills",
        "traded notional",
    ]
    positions = [
        [
            s,
            p["quantity"],
            p["avg_price"],
            p["last_price"],
            p["market_value"],
            p["unrealized_pnl"],
            p["realized_pnl"],
        ]
        for s, p in doc["final_positions"].items()
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{_cell(doc["start"])} .. {_cell(doc["end"])}, {doc["ticks"]} ticks of '
        f"{_cell(doc['interval'])}</p>",
        warn,
        "<h2>Metrics</h2>",
        _table(["metric", "value"], [[label, _metric_value(k, doc[k])] for k, label in _LABELS]),
        _figure_html(equity_figure(analysis)),
        _figure_html(positions_figure(analysis)),
        "<h2>Attribution</h2>",
        "<p>PnL of FIFO lots goes to the horizon and families of the fill that opened the lot; "
        "families share it by the final blend weights of the signal that caused the order; "
        "commissions go to the trading fill's own horizon.</p>",
        _figure_html(attribution_figure(analysis.attribution.per_horizon, "PnL per horizon")),
        _table(attribution_header, _attribution_rows(doc["per_horizon"])),
        _figure_html(attribution_figure(analysis.attribution.per_family, "PnL per model family")),
        _table(attribution_header, _attribution_rows(doc["per_family"])),
        "<h2>Final positions</h2>",
        _table(
            ["symbol", "quantity", "avg price", "last price", "market value", "unrealised", "realised"],
            positions,
        ),
        '<div class="grid"><div><h2>Denials by reason</h2>',
        _table(["reason", "count"], doc["denials_by_reason"].items()),
        "</div><div><h2>Orders by final status</h2>",
        _table(["status", "orders"], doc["orders_by_status"].items()),
        "</div><div><h2>Signals by decision</h2>",
        _table(["decision", "signals"], doc["signals_by_decision"].items()),
        "</div></div><h2>Trading-state changes</h2>",
        _table(
            ["time", "state", "actor", "detail"],
            [[c["time"], c["state"], c["actor"], c["detail"]] for c in doc["state_changes"]],
        ),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_report(
    run: RunData, out_dir: Path, title: str = "Ridgeline backtest", config: ReportConfig | None = None
) -> ReportPaths:
    """Write ``report.html`` and ``metrics.json`` into ``out_dir`` (created if missing)."""
    config = config or ReportConfig()
    analysis = analyse(run, config)
    document = metrics_document(analysis, config.float_digits)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / JSON_NAME, out_dir / HTML_NAME
    json_path.write_text(json.dumps(document, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    html_path.write_text(render_html(analysis, document, title), encoding="utf-8")
    return ReportPaths(html=html_path, json=json_path, metrics=analysis.metrics)
