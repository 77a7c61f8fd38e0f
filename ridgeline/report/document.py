"""The report's JSON document and terminal summary (pure).

metrics.json: sorted keys, decimals as exact fixed-point strings, floats rounded to
``ReportConfig.float_digits`` significant digits, times as ISO 8601 UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Context, Decimal, localcontext
from typing import Any

from ridgeline.report.analysis import Analysis
from ridgeline.report.attribution import PnlBucket
from ridgeline.report.metrics import Metrics

# Every key of metrics.json (tests hold the document to this list).
METRIC_KEYS = (
    "average_equity",
    "commission_bps",
    "commissions",
    "costs_bps",
    "costs_paid",
    "denials",
    "denials_by_reason",
    "drawdown_peak_time",
    "drawdown_recovery_time",
    "drawdown_trough_time",
    "duplicate_fills",
    "end",
    "executor_commands",
    "fills",
    "fills_without_reference",
    "final_equity",
    "final_positions",
    "final_trading_state",
    "finished",
    "guardrail_breaches",
    "hit_rate",
    "initial_cash",
    "interval",
    "max_drawdown",
    "max_drawdown_amount",
    "mean_return",
    "orders",
    "orders_by_status",
    "periods_per_year",
    "realized_pnl",
    "round_trips_closed",
    "round_trips_open",
    "round_trips_won",
    "sharpe",
    "signals",
    "signals_by_decision",
    "spread_impact_bps",
    "spread_impact_cost",
    "start",
    "state_changes",
    "ticks",
    "total_pnl",
    "total_return",
    "traded_notional",
    "turnover",
    "undecodable",
    "unrealized_pnl",
    "volatility_annualised",
)
SERIES_KEYS = ("equity_curve", "returns")
ATTRIBUTION_KEYS = ("per_family", "per_horizon")


def decimal_text(value: Decimal) -> str:
    """Fixed-point, no exponent, no trailing zeros: ``1E+2`` -> ``100``, ``0.50`` -> ``0.5``."""
    if not value:
        return "0"
    with localcontext(Context(prec=200)):  # normalize() rounds to the context's precision
        return format(value.normalize(), "f")


def jsonable(value: Any, digits: int = 10) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, digits) for v in value]
    raise TypeError(f"not serialisable in a report: {type(value).__name__}")


def metric_fields(m: Metrics) -> dict[str, Any]:
    """The scalar and table metrics (no series, no attribution), not yet made JSON-safe."""
    dd, costs = m.drawdown, m.costs
    return {
        "average_equity": m.average_equity,
        "commission_bps": costs.commission_bps,
        "commissions": costs.commissions,
        "costs_bps": costs.total_bps,
        "costs_paid": costs.total,
        "denials": m.denials,
        "denials_by_reason": m.denials_by_reason,
        "drawdown_peak_time": dd.peak_time,
        "drawdown_recovery_time": dd.recovery_time,
        "drawdown_trough_time": dd.trough_time,
        "duplicate_fills": m.duplicate_fills,
        "end": m.end,
        "executor_commands": m.executor_commands,
        "fills": m.fills,
        "fills_without_reference": costs.without_reference,
        "final_equity": m.final_equity,
        "final_positions": {
            symbol: {
                "avg_price": p.avg_price,
                "last_price": p.last_price,
                "market_value": p.market_value,
                "quantity": p.quantity,
                "realized_pnl": p.realized_pnl,
                "unrealized_pnl": p.unrealized_pnl,
            }
            for symbol, p in m.final_positions.items()
        },
        "final_trading_state": m.final_trading_state,
        "finished": m.finished,
        "guardrail_breaches": m.guardrail_breaches,
        "hit_rate": m.hit_rate,
        "initial_cash": m.initial_cash,
        "interval": m.interval,
        "max_drawdown": dd.max_drawdown,
        "max_drawdown_amount": dd.amount,
        "mean_return": m.mean_return,
        "orders": m.orders,
        "orders_by_status": m.orders_by_status,
        "periods_per_year": m.periods_per_year,
        "realized_pnl": m.realized_pnl,
        "round_trips_closed": m.round_trips_closed,
        "round_trips_open": m.round_trips_open,
        "round_trips_won": m.round_trips_won,
        "sharpe": m.sharpe,
        "signals": m.signals,
        "signals_by_decision": m.signals_by_decision,
        "spread_impact_bps": costs.slippage_bps,
        "spread_impact_cost": costs.slippage,
        "start": m.start,
        "state_changes": [
            {"actor": c.actor, "detail": c.detail, "state": c.state, "time": c.time} for c in m.state_changes
        ],
        "ticks": m.ticks,
        "total_pnl": m.total_pnl,
        "total_return": m.total_return,
        "traded_notional": m.traded_notional,
        "turnover": m.turnover,
        "undecodable": m.undecodable,
        "unrealized_pnl": m.unrealized_pnl,
        "volatility_annualised": m.volatility_annualised,
    }


def bucket_fields(bucket: PnlBucket) -> dict[str, Any]:
    return {
        "commission": bucket.commission,
        "fills": bucket.fills,
        "realized": bucket.realized,
        "total": bucket.total,
        "traded_notional": bucket.traded_notional,
        "unrealized": bucket.unrealized,
    }


def metrics_document(analysis: Analysis, digits: int = 10) -> dict[str, Any]:
    """The metrics.json content: metrics, attribution and the equity and return series."""
    doc = metric_fields(analysis.metrics)
    doc["per_horizon"] = {h: bucket_fields(b) for h, b in analysis.attribution.per_horizon.items()}
    doc["per_family"] = {f: bucket_fields(b) for f, b in analysis.attribution.per_family.items()}
    doc["equity_curve"] = [[p.time, p.equity] for p in analysis.replay.curve]
    doc["returns"] = [[t, r] for t, r in analysis.metrics.returns]
    out: dict[str, Any] = jsonable(doc, digits)
    return out


def _money(value: Any) -> str:
    """Exact in metrics.json; 8 decimal places are enough to read in a terminal."""
    return "n/a" if value is None else decimal_text(Decimal(value).quantize(Decimal("1e-8")))


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.2f} %"


def _num(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(float(value), spec)


def summary_lines(metrics: Metrics | Mapping[str, Any]) -> list[str]:
    """A few terminal lines; takes the Metrics or a loaded metrics.json."""
    m = jsonable(metric_fields(metrics)) if isinstance(metrics, Metrics) else metrics
    state = "finished" if m["finished"] else "NOT finished (no end of data on executions)"
    denials = ", ".join(f"{k} {v}" for k, v in m["denials_by_reason"].items())
    positions = ", ".join(
        f"{s} {p['quantity']} @ {p['last_price']}"
        for s, p in m["final_positions"].items()
        if p["quantity"] != "0"
    )
    return [
        f"Run {m['start']} .. {m['end']}: {m['ticks']} ticks of {m['interval']}, {state}",
        f"Equity {_money(m['initial_cash'])} -> {_money(m['final_equity'])} "
        f"(PnL {_money(m['total_pnl'])}, {_pct(m['total_return'])})",
        f"Sharpe {_num(m['sharpe'], '.3f')} (periods/year {_num(m['periods_per_year'], '.0f')}), "
        f"max drawdown {_pct(m['max_drawdown'])} ({m['drawdown_peak_time']} -> {m['drawdown_trough_time']})",
        f"Turnover {_num(m['turnover'], '.2f')}x, hit rate {_pct(m['hit_rate'])} "
        f"of {m['round_trips_closed']} closed round trips",
        f"Costs paid {_money(m['costs_paid'])} (commissions {_money(m['commissions'])}, spread/impact "
        f"{_money(m['spread_impact_cost'])}; {_num(m['costs_bps'], '.2f')} bps)",
        f"Orders {m['orders']}, fills {m['fills']}, denials {m['denials']}"
        + (f" ({denials})" if denials else ""),
        f"Open positions: {positions or 'none'}",
    ]
