"""Builders shared by the blender's unit tests: real bars from the bundled market data, and
synthetic predictions and executions around them."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from ridgeline_shared.messages import (
    Bar,
    BarrierPrediction,
    Decision,
    Execution,
    Fill,
    ModelPrediction,
    OrderSide,
    OrderStatus,
    OrderType,
    Predictions,
    Signal,
)

HORIZONS = ("5m", "10m", "15m", "30m", "60m", "1d")
FAMILIES = ("gbt", "linear", "mlp")
_DATA_DIRS = (Path("/work/main/data/market"), Path("/work/shared/data/market"))


def data_file(name: str) -> Path:
    for d in _DATA_DIRS:
        if (d / name).is_file():
            return d / name
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "data" / "market" / name, parent / "shared" / "data" / "market" / name):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(name)


@cache
def real_bars(symbol: str, limit: int = 600) -> tuple[Bar, ...]:
    """The first ``limit`` 5m bars of ``<symbol>_5m.csv`` (ts = bar open; event time = close)."""
    out = []
    with data_file(f"{symbol}_5m.csv").open() as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= limit:
                break
            opened = datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))
            closed = opened + timedelta(minutes=5)
            out.append(
                Bar(
                    event_time=closed,
                    trace_id=f"bar-{symbol}-{i}",
                    symbol=symbol,
                    interval="5m",
                    open_time=opened,
                    open=float(row["open"]),
                    high=float(row["high"]),
                    low=float(row["low"]),
                    close=float(row["close"]),
                    volume=float(row["volume"]),
                    received_at=closed,
                    source="test",
                )
            )
    return tuple(out)


def entry(
    horizon: str,
    family: str,
    zscore: float | None,
    *,
    ic: float = 0.05,
    confidence: float = 0.5,
    warming_up: bool = False,
) -> ModelPrediction:
    z = None if warming_up else zscore
    return ModelPrediction(
        horizon=horizon,
        family=family,
        model_version="v1",
        raw=(zscore or 0.0) * 1e-3,
        zscore=z,
        ic=ic,
        freshness=1.0,
        capacity=1.0,
        stability=1.0,
        confidence=confidence,
        score=0.0 if warming_up or z is None else z * confidence,
        warming_up=warming_up,
    )


def predictions(
    bar: Bar,
    entries: list[ModelPrediction],
    p_peak: float | None = 0.3,
    p_valley: float | None = 0.4,
) -> Predictions:
    barrier = (
        None if p_peak is None else BarrierPrediction(p_peak=p_peak, p_valley=p_valley, model_version="b1")
    )
    return Predictions(
        event_time=bar.event_time,
        trace_id=f"pred-{bar.symbol}-{bar.event_time.isoformat()}",
        trace={"ingest": 1, "predictor": 2},
        symbol=bar.symbol,
        interval=bar.interval,
        close=bar.close,
        entries=entries,
        barrier=barrier,
    )


def random_entries(
    rng: random.Random, warming: float = 0.0, families: tuple[str, ...] = FAMILIES
) -> list[ModelPrediction]:
    out = []
    for h in HORIZONS:
        common = rng.gauss(0, 1)
        for f in families:
            z = max(-3.0, min(3.0, 0.7 * common + 0.7 * rng.gauss(0, 1)))
            out.append(
                entry(
                    h,
                    f,
                    z,
                    ic=rng.uniform(0, 0.2),
                    confidence=rng.uniform(0.2, 1.0),
                    warming_up=rng.random() < warming,
                )
            )
    return out


def execution(
    symbol: str,
    order_event_time: datetime,
    event_time: datetime,
    *,
    side: OrderSide,
    quantity: str,
    price: str,
    commission: str = "0",
    horizon: str | None = "5m",
    client_order_id: str = "RL-1",
    trade_id: str = "T-1",
    sequence: int = 1,
) -> Execution:
    q, p = Decimal(quantity), Decimal(price)
    return Execution(
        event_time=event_time,
        trace_id=f"exe-{client_order_id}-{sequence}",
        client_order_id=client_order_id,
        strategy_id="ridgeline",
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        status=OrderStatus.FILLED,
        quantity=q,
        filled_quantity=q,
        avg_fill_price=p,
        fill=Fill(trade_id=trade_id, quantity=q, price=p, commission=Decimal(commission)),
        horizon=horizon,
        order_event_time=order_event_time,
        sequence=sequence,
    )


def paper_fill(signal: Signal, bar: Bar, k: int) -> Execution:
    """The test drivers' paper venue: a BUY / SELL signal filled at ``bar``'s open (tick ``k``)."""
    side = OrderSide.BUY if signal.decision is Decision.BUY else OrderSide.SELL
    coid = f"RL-{signal.symbol}-{k}"
    return execution(
        signal.symbol,
        signal.event_time,
        bar.event_time,
        side=side,
        quantity="10",
        price=f"{bar.open:.8f}",
        commission="0.0000001",
        horizon=signal.chosen_horizon,
        client_order_id=coid,
        trade_id=f"T-{coid}",
    )
