"""kill -9 of the executor between sending an order and committing its acknowledgement (and at
the neighbouring points), then a restart: exactly one order at the venue, and the executions
stream equal to an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib

from ridgeline_executor.brokers.paper.books import full_ledger
from ridgeline_executor.brokers.paper.state import PaperState
from ridgeline_executor.store import OrderStore
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Bar, Execution, Message, Watermark
from ridgeline_shared.messages.enums import OrderSide, OrderStatus
from tests.integration.executor.harness import executions, real_bars, request

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def publish(client: redis_lib.Redis, keys: Keys, bars: list[Bar], orders: dict[int, list[Message]]) -> None:
    """Bars with a watermark per tick, and risk's orders stream: the requests made at tick i,
    then its watermark (as risk forwards every tick; the executor reads orders at lag 0, so it
    carries out tick i only once risk's watermark i is in), then end of data on both."""
    pipe = client.pipeline(transaction=False)
    for i, bar in enumerate(bars):
        pipe.xadd(keys.stream(Stream.BARS), codec.encode(bar))  # type: ignore[arg-type]
        pipe.xadd(keys.stream(Stream.BARS), codec.encode(mark(bar, "ingest")))  # type: ignore[arg-type]
        for message in orders.get(i, []):
            pipe.xadd(keys.stream(Stream.ORDERS), codec.encode(message))  # type: ignore[arg-type]
        pipe.xadd(keys.stream(Stream.ORDERS), codec.encode(mark(bar, "risk")))  # type: ignore[arg-type]
    for stream, producer in ((Stream.BARS, "ingest"), (Stream.ORDERS, "risk")):
        pipe.xadd(keys.stream(stream), codec.encode(mark(bars[-1], producer, eod=True)))  # type: ignore[arg-type]
    pipe.execute()


def mark(bar: Bar, producer: str, eod: bool = False) -> Watermark:
    return Watermark(
        event_time=bar.event_time, trace_id=f"wm@{bar.event_time}", producer=producer, end_of_data=eod
    )


def run_child(redis_url: str, prefix: str, crash_at: str = "", crash_orders: str = "") -> int:
    env = {
        **os.environ,
        "RIDGELINE_REDIS_URL": redis_url,
        "RIDGELINE_PREFIX": prefix,
        "RIDGELINE_MODE": "replay",
        "CRASH_AT": crash_at,
        "CRASH_ORDERS": crash_orders,
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.run(
        [sys.executable, "-m", "tests.integration.executor.crash_child"], cwd=REPO, env=env,
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return process.returncode


def comparable(items: list[Execution]) -> list[dict[str, object]]:
    return [e.model_dump(exclude={"trace"}) for e in items]


@pytest.mark.parametrize("crash_at", ["before_submit", "after_submit", "after_fill"])
def test_kill_9_between_submit_and_ack_leaves_exactly_one_order(redis_url: str, crash_at: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    bars = real_bars("ETHBTC", 6)
    buy = request(bars[0], OrderSide.BUY, "40")
    sell = request(bars[2], OrderSide.SELL, "15")
    orders: dict[int, list[Message]] = {0: [buy], 2: [sell]}

    # The reference: an uninterrupted run.
    publish(client, Keys("clean"), bars, orders)
    assert run_child(redis_url, "clean") == 0
    reference = executions(client, "clean")

    keys = Keys("crash")
    publish(client, keys, bars, orders)
    assert run_child(redis_url, "crash", crash_at, buy.client_order_id) == -signal.SIGKILL
    # The crash left its mark: the order was written ahead and nothing was committed.
    logged = OrderStore(client, keys).load(buy.client_order_id)
    assert logged is not None and logged.status is OrderStatus.SUBMITTED
    assert executions(client, "crash") == []
    venue = PaperState(client, keys)
    at_venue = client.hget(venue.orders_key, buy.client_order_id)
    assert (at_venue is None) == (crash_at == "before_submit")

    assert run_child(redis_url, "crash") == 0
    recovered = executions(client, "crash")

    # Exactly one order per request at the venue, each filled once.
    assert sorted(
        k.decode() if isinstance(k, bytes) else k for k in client.hkeys(venue.orders_key)
    ) == sorted([buy.client_order_id, sell.client_order_id])
    assert int(client.get("crash:test:submissions") or 0) == 2  # no order was even sent twice
    ledger = full_ledger(*venue.read(lambda books: books.everything(Decimal(100))))
    assert ledger.fills == 2
    assert ledger.quantity("ETHBTC") == Decimal(25)
    # Every status change once, in order, as in the uninterrupted run: acknowledged within the
    # tick that made the request, filled at the next bar, even after the crash.
    t = [bar.event_time for bar in bars]
    assert [(e.client_order_id, e.sequence, e.status, e.event_time) for e in recovered] == [
        (buy.client_order_id, 0, OrderStatus.SUBMITTED, t[0]),
        (buy.client_order_id, 1, OrderStatus.ACCEPTED, t[0]),
        (buy.client_order_id, 2, OrderStatus.FILLED, t[1]),
        (sell.client_order_id, 0, OrderStatus.SUBMITTED, t[2]),
        (sell.client_order_id, 1, OrderStatus.ACCEPTED, t[2]),
        (sell.client_order_id, 2, OrderStatus.FILLED, t[3]),
    ]
    assert comparable(recovered) == comparable(reference)
