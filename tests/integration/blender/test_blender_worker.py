"""The blender under the real worker and Redis: the signals equal the in-process core's, and a
restart (snapshot + replay) changes neither the signals nor the weights."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
import redis as redis_lib

from ridgeline_blender.config import BanditConfig, BlenderConfig, BlenderSettings, CostConfig
from ridgeline_blender.service import BlenderService
from ridgeline_shared import codec
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import (
    Bar,
    Decision,
    Execution,
    Fill,
    Message,
    ModelPrediction,
    OrderSide,
    OrderStatus,
    OrderType,
    Predictions,
    Signal,
    Watermark,
)
from ridgeline_shared.runtime.service import Outbox
from ridgeline_shared.runtime.worker import Worker
from tests.support.bars import real_bars
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEYS = Keys()
SYMBOLS = ("ETHBTC", "LTCBTC")
HORIZONS = ("5m", "10m", "15m", "30m", "60m", "1d")
N_TICKS = 90


def settings(redis_url: str) -> BlenderSettings:
    return BlenderSettings(
        redis_url=redis_url,
        bus={"snapshot_every_ticks": 7, "batch_size": 16},
        market=MarketConfig(default_spread_bps=1.0),
        blender=BlenderConfig(cost=CostConfig(k3=0.0), bandit=BanditConfig(warm_start_updates=5)),
    )


def entries(rng: random.Random) -> list[ModelPrediction]:
    out = []
    for h in HORIZONS:
        for f in ("gbt", "mlp", "ridge"):
            z, c = max(-3.0, min(3.0, rng.gauss(0, 1.2))), rng.uniform(0.2, 1.0)
            out.append(
                ModelPrediction(
                    horizon=h, family=f, model_version="v1", raw=z / 1e3, zscore=z, ic=rng.uniform(0, 0.2),
                    freshness=1, capacity=1, stability=1, confidence=c, score=z * c, warming_up=False,
                )
            )  # fmt: skip
    return out


def fill_of(signal: Signal, bar: Bar, k: int) -> Execution:
    coid = f"RL-{signal.symbol}-{k}"
    price = Decimal(f"{bar.open:.8f}")
    qty = Decimal(5)
    return Execution(
        event_time=bar.event_time, trace_id=f"x-{coid}", client_order_id=coid, strategy_id="ridgeline",
        symbol=signal.symbol, side=OrderSide.BUY if signal.decision is Decision.BUY else OrderSide.SELL,
        order_type=OrderType.MARKET, status=OrderStatus.FILLED, quantity=qty, filled_quantity=qty,
        avg_fill_price=price, fill=Fill(trade_id=f"T-{coid}", quantity=qty, price=price),
        horizon=signal.chosen_horizon, order_event_time=signal.event_time, sequence=1,
    )  # fmt: skip


def build_inputs(
    redis_url: str,
) -> tuple[list[tuple[datetime, dict[Stream, list[Message]]]], list[Signal], dict]:
    """Ticks of bars, predictions and the executions a paper venue would have produced (fills
    of tick k's BUY/SELL signals at bar k+1's open), and the in-process core's signals."""
    bars = {s: list(real_bars(s, N_TICKS)) for s in SYMBOLS}
    reference = BlenderService(settings(redis_url))
    ticks: list[tuple[datetime, dict[Stream, list[Message]]]] = []
    signals: list[Signal] = []
    to_fill: list[Signal] = []
    executions: list[Message] = []  # of the previous tick: the lag-1 input
    for k in range(N_TICKS):
        rng = random.Random(k)
        at = bars[SYMBOLS[0]][k].event_time
        tick = {
            Stream.BARS: [bars[s][k] for s in SYMBOLS],
            Stream.PREDICTIONS: [predictions(bars[s][k], entries(rng)) for s in SYMBOLS],
            Stream.EXECUTIONS: [fill_of(sig, bars[sig.symbol][k], k) for sig in to_fill],
        }
        out = Outbox()
        for e in executions:
            reference.on_message(Stream.EXECUTIONS, e, out)
        for stream in (Stream.BARS, Stream.PREDICTIONS):
            for message in tick[stream]:
                reference.on_message(stream, message, out)
        reference.on_tick_end(at, out)
        produced = [m for _, m in out.messages if isinstance(m, Signal)]
        signals += produced
        to_fill = [s for s in produced if s.decision is not Decision.HOLD]
        executions = tick[Stream.EXECUTIONS]
        ticks.append((at, tick))
    assert reference.core.status()["bandit_updates"] > 5
    return ticks, signals, reference.weights()


def predictions(bar: Bar, ents: list[ModelPrediction]) -> Predictions:
    return Predictions(
        event_time=bar.event_time, trace_id=f"p-{bar.trace_id}", symbol=bar.symbol, interval="5m",
        close=bar.close, entries=ents,
    )  # fmt: skip


def publish(client: redis_lib.Redis, ticks: list[tuple[datetime, dict[Stream, list[Message]]]]) -> None:
    pipe = client.pipeline(transaction=False)
    for at, tick in ticks:
        for stream, messages in tick.items():
            for m in messages:
                pipe.xadd(KEYS.stream(stream), codec.encode(m))  # type: ignore[arg-type]
            mark = Watermark(event_time=at, trace_id=f"wm-{stream}-{at}", producer="test")
            pipe.xadd(KEYS.stream(stream), codec.encode(mark))  # type: ignore[arg-type]
    last = ticks[-1][0]
    for stream in (Stream.BARS, Stream.PREDICTIONS, Stream.EXECUTIONS):
        eod = Watermark(event_time=last, trace_id=f"eod-{stream}", producer="test", end_of_data=True)
        pipe.xadd(KEYS.stream(stream), codec.encode(eod))  # type: ignore[arg-type]
    pipe.execute()


def produced(client: redis_lib.Redis) -> tuple[list[Signal], bool]:
    decoded = [
        m for _, f in client.xrange(KEYS.stream(Stream.SIGNALS)) for m in codec.messages_of(Stream.SIGNALS, f)
    ]
    eod = bool(decoded) and isinstance(decoded[-1], Watermark) and decoded[-1].end_of_data
    return [m for m in decoded if isinstance(m, Signal)], eod


def comparable(signals: list[Signal]) -> list[str]:
    return [s.model_copy(update={"trace": {}}).model_dump_json() for s in signals]


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def test_worker_signals_equal_the_in_process_core(
    redis_url: str, redis_client: redis_lib.Redis, workers: list[Worker]
) -> None:
    ticks, expected, expected_weights = build_inputs(redis_url)
    publish(redis_client, ticks)
    service = BlenderService(settings(redis_url))
    worker = Worker(service)
    workers.append(worker)
    worker.start()
    wait_for(lambda: produced(redis_client)[1], "end of data on signals")
    got, _ = produced(redis_client)
    assert comparable(got) == comparable(expected)
    assert service.weights() == expected_weights
    assert service.core.status()["bandit_updates"] > 5  # the executions feedback edge was live
    assert worker.dead_letters == 0


def test_worker_restart_changes_neither_signals_nor_weights(
    redis_url: str, redis_client: redis_lib.Redis, workers: list[Worker]
) -> None:
    ticks, expected, expected_weights = build_inputs(redis_url)
    publish(redis_client, ticks)

    first = Worker(BlenderService(settings(redis_url)))
    workers.append(first)
    first.start()
    wait_for(lambda: len(produced(redis_client)[0]) >= len(expected) // 2, "half the signals")
    first.stop()
    assert not produced(redis_client)[1], "stopped before the end: the restart must do the rest"

    second_service = BlenderService(settings(redis_url))
    second = Worker(second_service)
    workers.append(second)
    second.start()
    wait_for(lambda: produced(redis_client)[1], "end of data on signals")

    got, _ = produced(redis_client)
    assert second.dead_letters == 0
    assert comparable(got) == comparable(expected)
    assert second_service.weights() == expected_weights
