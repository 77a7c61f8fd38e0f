"""The in-process backtest and the distributed pipeline (five workers on a real Redis) produce
identical order and fill streams on the same data and configuration."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis as redis_lib
from prometheus_client import REGISTRY

from ridgeline.backtest import build_services
from ridgeline.replay import BUNDLED_CONFIG, end_of_data
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import (
    Execution,
    ExecutorCommand,
    Message,
    OrderRequest,
    OrderStatus,
)
from ridgeline_shared.runtime.inprocess import InProcessPipeline
from ridgeline_shared.runtime.worker import Worker

pytestmark = pytest.mark.integration

# A slice long enough for the models to warm up (145 bars of features, then 100 predictions),
# on the bundled replay's configuration with the spread as the only cost, so that signals trade
# often and the whole order path is exercised.
SLICE = {
    "RIDGELINE_CONFIG": str(BUNDLED_CONFIG),
    "RIDGELINE_INGEST__SYMBOLS": "ETHBTC,LTCBTC,ADABTC",
    "RIDGELINE_INGEST__MAX_BARS": "1500",
    "RIDGELINE_BLENDER__COST__K2": "0",
}


@pytest.fixture
def sliced(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> str:
    for key, value in SLICE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RIDGELINE_REDIS_URL", redis_url)
    return redis_url


def orders_of(messages: list[Message]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for m in messages:
        if isinstance(m, OrderRequest):
            out.append(
                (m.client_order_id, m.symbol, m.side, m.quantity, m.target_position, m.event_time, m.reason)
            )
        elif isinstance(m, ExecutorCommand):
            out.append((m.command_id, m.command, m.event_time))
    return out


def fills_of(messages: list[Message]) -> list[tuple[Any, ...]]:
    return [
        (m.client_order_id, m.fill.trade_id, m.fill.quantity, m.fill.price, m.fill.commission, m.event_time)
        for m in messages
        if isinstance(m, Execution) and m.fill is not None
    ]


def read(client: redis_lib.Redis, stream: Stream) -> list[Message]:
    entries: Any = client.xrange(Keys().stream(stream))
    return [m for _, fields in entries for m in codec.messages_of(stream, fields)]


def test_in_process_and_distributed_runs_give_identical_orders(sliced: str) -> None:
    local = InProcessPipeline(build_services()).run()
    local_orders, local_fills = orders_of(local[Stream.ORDERS]), fills_of(local[Stream.EXECUTIONS])
    assert len(local_orders) >= 10, "the slice must trade for the comparison to mean anything"
    assert local_fills

    client = redis_lib.Redis.from_url(sliced)
    workers = [Worker(service) for service in build_services()]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 600
        while not end_of_data(client, Keys()):
            assert time.monotonic() < deadline, "the distributed run did not finish"
            assert all(w.alive for w in workers), [w.status() for w in workers if not w.alive]
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()
    assert orders_of(read(client, Stream.ORDERS)) == local_orders
    executions = read(client, Stream.EXECUTIONS)
    assert fills_of(executions) == local_fills
    # Every hop stamped its publish time: the acknowledgement carries the bar's whole path.
    acks = [m for m in executions if isinstance(m, Execution) and m.status is OrderStatus.ACCEPTED]
    assert acks
    assert all(set(m.trace) == {"ingest", "predictor", "blender", "risk", "executor"} for m in acks)
    assert all(m.trace["ingest"] <= m.trace["risk"] <= m.trace["executor"] for m in acks)
    # The trading metrics count what was published.
    accepted = REGISTRY.get_sample_value(
        "ridgeline_orders_total", {"service": "executor", "status": "ACCEPTED"}
    )
    assert accepted is not None
    assert accepted >= len(acks)
    fills = REGISTRY.get_sample_value("ridgeline_fills_total")
    assert fills is not None
    assert fills >= len(local_fills)
