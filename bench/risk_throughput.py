"""Risk throughput: the cost of one tick through the RiskService handlers (no Redis), per tick
and per symbol-bar, at 1, 100 and 1000 symbols per tick.

Each tick feeds, in the worker's order, the executions of the previous ticks' orders (lag 1:
an ACCEPTED and a FILLED per order, filled at the next bar's open as the paper venue does), every
symbol's bar and a signal for every symbol, then ``on_tick_end`` (sizing, pre-trade checks,
messages, durable-state ops, the HTTP views). Risk is configured as the pipeline bench runs it
(large cash, small lots, no band, rate and loss limits out of the way), so every symbol with a
trade signal trades on most ticks: the heaviest steady load.

The inputs are recorded once from a driving run; each timed run restores the service from the
snapshot taken after the warm-up and replays the same inputs, so every repeat does identical work
(and must emit identical messages). The baseline, measured in the same run on the same messages,
is the bus codec's work for the tick: decoding every input entry and encoding every output.

    python bench/risk_throughput.py [--quick] [--repeat 3]

Prints a table and writes bench/results/risk_throughput.json.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import percentiles, synthetic_bars, table, write_results  # noqa: E402
from ridgeline_risk.config import RiskConfig, RiskSettings  # noqa: E402
from ridgeline_risk.service import RiskService  # noqa: E402
from ridgeline_shared import codec, ids  # noqa: E402
from ridgeline_shared.accounting import to_decimal  # noqa: E402
from ridgeline_shared.config import MarketConfig  # noqa: E402
from ridgeline_shared.keys import Stream  # noqa: E402
from ridgeline_shared.messages import (  # noqa: E402
    Bar,
    Decision,
    Execution,
    Fill,
    Message,
    OrderRequest,
    OrderStatus,
    OrderType,
    Signal,
)
from ridgeline_shared.runtime.service import Outbox  # noqa: E402

WARMUP_TICKS = 30  # sigma needs 20 returns; the book fills up
# CPU time of this thread: the figure the pipeline bench reports per service, and one that other
# work on the (shared, 2-core) machine does not inflate the way it inflates wall time.
clock = time.thread_time_ns
PLAN = ((1, 2000), (100, 60), (1000, 12))
QUICK_PLAN = ((1, 300), (100, 10), (1000, 3))

# As bench/pipeline.py runs risk: every symbol may trade, nothing halts.
RISK = {
    "initial_cash": "1000000",
    "lot_size": "0.0001",
    "no_trade_band": 0,
    "limits": {
        "max_order_notional": "1000000000",
        "max_orders_per_second": 1_000_000,
        "daily_loss": 1,
        "max_drawdown": 1,
    },
}
MARKET = MarketConfig(default_spread_bps=0)


def make_service() -> RiskService:
    return RiskService(RiskSettings(market=MARKET, risk=RiskConfig.model_validate(RISK)))


@dataclass
class Tick:
    event_time: datetime
    executions: list[Execution]
    bars: list[Bar]
    signals: list[Signal]

    def inputs(self) -> list[tuple[Stream, Message]]:
        return (
            [(Stream.EXECUTIONS, e) for e in self.executions]
            + [(Stream.BARS, b) for b in self.bars]
            + [(Stream.SIGNALS, s) for s in self.signals]
        )


def signal_of(bar: Bar, index: int, rng: random.Random) -> Signal:
    """A blender-like signal: mostly trades, the alpha's sign agreeing with the decision; one
    symbol in ten leaves sigma to risk's own volatility estimate (the blender sends its own)."""
    draw = rng.random()
    decision = Decision.HOLD if draw < 0.2 else Decision.BUY if draw < 0.6 else Decision.SELL
    alpha = rng.uniform(2.0, 40.0) * (-1.0 if decision is Decision.SELL else 1.0)
    return Signal(
        event_time=bar.event_time,
        trace_id=f"sig-{bar.trace_id}",
        symbol=bar.symbol,
        interval="5m",
        price=bar.close,
        horizons=[],
        decision=decision,
        chosen_horizon="15m",
        alpha_bps=alpha,
        expected_net_bps=alpha,
        confidence=rng.uniform(0.2, 1.0),
        alpha_5m_bps=alpha * rng.uniform(-0.2, 1.0),
        p_peak=rng.uniform(0.0, 0.7),
        p_valley=rng.uniform(0.0, 0.7),
        spread_bps=0.0,
        sigma_bps=0.0 if index % 10 == 3 else rng.uniform(5.0, 30.0),
    )


def execution_of(order: OrderRequest, at: datetime, status: OrderStatus, price: Decimal | None) -> Execution:
    fill = None
    if price is not None:
        fill = Fill(
            trade_id=ids.trade_id("bench", order.client_order_id, 0), quantity=order.quantity, price=price
        )
    return Execution(
        event_time=at,
        trace_id=order.trace_id,
        client_order_id=order.client_order_id,
        strategy_id=order.strategy_id,
        symbol=order.symbol,
        side=order.side,
        order_type=OrderType.MARKET,
        status=status,
        quantity=order.quantity,
        filled_quantity=order.quantity if fill else Decimal(0),
        avg_fill_price=price,
        fill=fill,
        order_event_time=order.event_time,
        sequence=2 if fill else 1,
    )


def run_tick(
    service: RiskService, tick: Tick, inputs: list[tuple[Stream, Message]] | None = None
) -> list[Message]:
    """The worker's calls for one tick (``inputs``: ``tick.inputs()``, prepared beforehand)."""
    out = Outbox()
    for stream, message in tick.inputs() if inputs is None else inputs:
        service.on_message(stream, message, out)
    service.on_tick_end(tick.event_time, out)
    return [m for _, m in out.messages]


def record(n_symbols: int, n_ticks: int) -> tuple[list[Tick], bytes, list[list[Message]]]:
    """Drive risk with a paper venue for ``WARMUP_TICKS + n_ticks``; returns the timed ticks'
    inputs, the snapshot after the warm-up and the timed ticks' outputs."""
    rng = random.Random(n_symbols)
    service = make_service()
    service.restore(None)
    ticks: list[Tick] = []
    outputs: list[list[Message]] = []
    snapshot = b""
    pending: list[Execution] = []
    working: list[OrderRequest] = []
    for k, bars in enumerate(synthetic_bars(n_symbols, WARMUP_TICKS + n_ticks)):
        if k == WARMUP_TICKS:
            snapshot = service.snapshot()
        at = bars[0].event_time
        tick = Tick(at, pending, bars, [signal_of(b, i, rng) for i, b in enumerate(bars)])
        # This tick's bars fill the orders sent before it; risk reads those executions next tick.
        opens = {b.symbol: to_decimal(b.open).quantize(Decimal("1e-12")) for b in bars}
        pending = [execution_of(o, at, OrderStatus.FILLED, opens[o.symbol]) for o in working]
        produced = run_tick(service, tick)
        working = [m for m in produced if isinstance(m, OrderRequest)]
        pending = [execution_of(o, at, OrderStatus.ACCEPTED, None) for o in working] + pending
        if k >= WARMUP_TICKS:
            ticks.append(tick)
            outputs.append(produced)
    return ticks, snapshot, outputs


def digest(outputs: list[list[Message]]) -> str:
    h = hashlib.sha256()
    for tick in outputs:
        for m in tick:
            h.update(m.model_dump_json(exclude={"trace"}).encode())
    return h.hexdigest()[:16]


def measure(n_symbols: int, n_ticks: int, repeat: int) -> dict[str, object]:
    ticks, snapshot, recorded = record(n_symbols, n_ticks)
    inputs = [t.inputs() for t in ticks]
    entries = [[(s, codec.encode(m)) for s, m in tick_inputs] for tick_inputs in inputs]
    gc.collect()
    gc.freeze()
    best_s, wall_s, base_s = float("inf"), float("inf"), float("inf")
    per_tick: list[int] = []
    outputs: list[list[Message]] = []
    for _ in range(repeat):
        service = make_service()
        service.restore(snapshot)
        samples, outputs = [], []
        wall = time.perf_counter()
        for tick, tick_inputs in zip(ticks, inputs, strict=True):
            started = clock()
            produced = run_tick(service, tick, tick_inputs)
            samples.append(clock() - started)
            outputs.append(produced)
        wall_s = min(wall_s, time.perf_counter() - wall)
        if sum(samples) / 1e9 < best_s:
            best_s, per_tick = sum(samples) / 1e9, samples
        started = clock()
        for tick_entries, produced in zip(entries, outputs, strict=True):
            for stream, fields in tick_entries:
                codec.decode(stream, fields)
            for m in produced:
                codec.encode(m)
        base_s = min(base_s, (clock() - started) / 1e9)
    gc.unfreeze()
    if digest(outputs) != digest(recorded):
        raise SystemExit(f"{n_symbols} symbols: the replay from the snapshot emitted other messages")
    bars = n_symbols * n_ticks
    kinds = [type(m).__name__ for t in outputs for m in t]
    snap_started = time.perf_counter()
    state = service.snapshot()
    snapshot_ms = 1e3 * (time.perf_counter() - snap_started)
    return {
        "symbols": n_symbols,
        "ticks": n_ticks,
        "symbol_bars": bars,
        "inputs": sum(len(e) for e in entries),
        "orders": kinds.count("OrderRequest"),
        "risk_events": kinds.count("RiskEvent"),
        "handler_cpu_seconds": round(best_s, 4),
        "handler_wall_seconds": round(wall_s, 4),
        "us_per_symbol_bar": round(1e6 * best_s / bars, 2),
        "us_per_tick_mean": round(1e6 * best_s / n_ticks, 1),
        "per_tick": percentiles(per_tick),
        "baseline_codec_us_per_symbol_bar": round(1e6 * base_s / bars, 2),
        "baseline_codec_us_per_tick": round(1e6 * base_s / n_ticks, 1),
        "ratio_to_baseline": round(best_s / base_s, 3),
        "snapshot_bytes": len(state),
        "snapshot_ms": round(snapshot_ms, 2),
        "outputs_sha256": digest(outputs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--name", default="risk_throughput", help="results file name")
    args = parser.parse_args()
    results = [measure(n, t, args.repeat) for n, t in (QUICK_PLAN if args.quick else PLAN)]
    rows: list[tuple[str, ...]] = [
        ("symbols", "ticks", "orders", "us/symbol-bar", "us/tick", "p50 tick", "codec us/sb", "x codec")
    ]
    rows += [
        (
            str(r["symbols"]),
            str(r["ticks"]),
            str(r["orders"]),
            f"{r['us_per_symbol_bar']:.1f}",
            f"{r['us_per_tick_mean']:.0f}",
            f"{r['per_tick']['p50_us']:.0f}",  # type: ignore[index]
            f"{r['baseline_codec_us_per_symbol_bar']:.1f}",
            f"{r['ratio_to_baseline']:.2f}",
        )
        for r in results
    ]
    print(table(rows))
    path = write_results(
        args.name,
        {
            "cpus": os.cpu_count(),
            "quick": args.quick,
            "repeat": args.repeat,
            "warmup_ticks": WARMUP_TICKS,
            "risk": RISK,
            "timed": "RiskService.on_message for every input + on_tick_end, from the warm-up snapshot; "
            "thread CPU time, best of the repeats (handler_wall_seconds: wall time, best run)",
            "baseline": "codec.decode of every input entry + codec.encode of every output, same run "
            "(CPU time)",
            "results": results,
        },
    )
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
