"""Prometheus metrics every service exports (one service per process, default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

MESSAGES_IN = Counter("ridgeline_messages_in_total", "Entries read", ["service", "stream"])
MESSAGES_OUT = Counter("ridgeline_messages_out_total", "Messages published", ["service", "stream"])
DEAD_LETTERS = Counter("ridgeline_dead_letters_total", "Entries sent to dead letters", ["service", "stream"])
TICKS = Counter("ridgeline_ticks_total", "Event-time ticks processed", ["service"])
HANDLER_SECONDS = Histogram(
    "ridgeline_handler_seconds", "Handler time per tick", ["service"], buckets=_LATENCY_BUCKETS
)
COMMIT_SECONDS = Histogram(
    "ridgeline_commit_seconds", "MULTI/EXEC time per commit", ["service"], buckets=_LATENCY_BUCKETS
)
BATCH_SIZE = Histogram(
    "ridgeline_batch_entries", "Entries per read batch", ["service"], buckets=(1, 4, 16, 64, 256, 1024, 4096)
)
E2E_SECONDS = Histogram(
    "ridgeline_end_to_end_seconds",
    "Wall time from ingest publish to this service's publish, from message traces",
    ["service"],
    buckets=_LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "ridgeline_output_lag_entries", "Unread entries of the slowest group", ["service", "stream"]
)
BACKPRESSURE_WAITS = Counter(
    "ridgeline_backpressure_waits_total", "Waits for a lagging consumer", ["service"]
)
LAST_TICK = Gauge("ridgeline_last_tick_timestamp_seconds", "Event time of the last tick", ["service"])
PAUSED = Gauge("ridgeline_paused", "1 while paused by control", ["service"])

# Trading figures, from what services publish (the worker counts them at commit) and from risk's
# portfolio view: orders by status, fills, denials by reason, equity, realised PnL, trading state.
ORDERS = Counter("ridgeline_orders_total", "Order status changes published", ["service", "status"])
FILLS = Counter("ridgeline_fills_total", "Fills published")
DENIALS = Counter("ridgeline_denials_total", "Orders denied by risk", ["reason"])
EQUITY = Gauge("ridgeline_equity", "Portfolio equity at the last tick (quote currency)")
PNL_REALIZED = Gauge("ridgeline_pnl_realized", "Realised PnL (quote currency)")
TRADING_STATE = Gauge("ridgeline_trading_state", "1 for the current trading state", ["state"])
