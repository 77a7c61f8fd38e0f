"""Redis round trips of the executor's tick on the Redis paper venue, and what makes them few
stay exact: the venue's mirror of its own books (one compare-and-set script per unit of work,
validated by a version), orders taken as new without a lookup (the script checks), the tick's
matching deferred to the unit of work of its new orders, and the order log's horizon (no
lookup for requests made after every logged order)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib
from redis.connection import Connection

from ridgeline_executor.brokers.base import OrderSpec
from ridgeline_executor.brokers.paper.broker import PaperBroker
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.brokers.paper.redis_books import PaperState
from ridgeline_executor.brokers.paper.state import MemoryPaperState
from ridgeline_executor.orders.order import Order
from ridgeline_executor.service import ExecutorService
from ridgeline_executor.store import OrderStore
from ridgeline_shared.keys import Keys
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tests.integration.executor.harness import Harness, real_bars, request, settings

pytestmark = pytest.mark.integration
D = Decimal
CONFIG = PaperBrokerConfig(initial_cash=D(1_000_000_000))


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts what is sent to Redis in one go (a command, a pipeline, a script): round trips."""
    sent = [0]
    send = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        send(self, command, check_health)

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "send_packed_command", counting)
        yield sent


def spec(bar: Bar, cid: str, side: OrderSide = OrderSide.BUY, qty: str = "1") -> OrderSpec:
    return OrderSpec(cid, bar.symbol, side, OrderType.MARKET, D(qty), TimeInForce.GTC, bar.event_time)


def shifted(bar: Bar, symbol: str) -> Bar:
    return bar.model_copy(update={"symbol": symbol, "trace_id": f"{symbol}@{bar.event_time}"})


@pytest.mark.parametrize("symbols", [1, 100])
def test_a_tick_is_two_round_trips_with_orders_and_one_without(
    redis_url: str, redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch, symbols: int
) -> None:
    """With orders: the write-ahead, then one script for the bars and the orders; bars alone:
    one script. The worker's commit of the tick is apart (not counted)."""
    service = ExecutorService(settings(redis_url, paper={"initial_cash": "1000000000"}))
    h = Harness(service, redis_client)
    h.start()
    names = [f"S{i:03d}" for i in range(symbols)]
    base = real_bars("ETHBTC", 8)
    counts = []
    for i, bar in enumerate(base):
        bars = [shifted(bar, s) for s in names]
        orders = (
            [request(b, OrderSide.BUY if i % 4 < 2 else OrderSide.SELL, "1") for b in bars] if i % 2 else []
        )
        out: list[Any] = []
        with round_trips(monkeypatch) as sent:
            from ridgeline_shared.keys import Stream
            from ridgeline_shared.runtime.service import Outbox

            box = Outbox()
            for b in bars:
                service.on_message(Stream.BARS, b, box)
            for o in orders:
                service.on_message(Stream.ORDERS, o, box)
            service.on_tick_end(bar.event_time, box)
        h.commit(box)
        out.extend(box.messages)
        counts.append((bool(orders), sent[0]))
    # The first ticks read the books (the mirror is empty); then the steady state.
    assert counts[4:] == [(False, 1), (True, 2), (False, 1), (True, 2)]
    assert service.book.ledger is not None and service.book.ledger.fills == 3 * symbols


def test_venues_sharing_books_stay_exact(redis_client: redis_lib.Redis) -> None:
    """Two processes driving the same paper books in turn (each one's mirror goes stale when
    the other writes), bars matched at once or deferred to the orders' unit of work, end
    exactly where one venue in memory does, which matches at once."""
    reference = PaperBroker(MemoryPaperState(), config=CONFIG)
    deferring = PaperBroker(MemoryPaperState(), config=CONFIG)
    venues = [PaperBroker(redis_client, Keys(), CONFIG), PaperBroker(redis_client, Keys(), CONFIG)]
    bars = real_bars("ETHBTC", 40)
    for i, bar in enumerate(bars):
        venue = venues[(i // 3) % 2]
        reference.on_bars([bar])
        for paper in (venue, deferring):
            paper.on_bars_deferred([bar]) if i % 2 else paper.on_bars([bar])
        specs = [spec(bar, f"RL-{i}", OrderSide.BUY if i % 4 < 2 else OrderSide.SELL, str(1 + i % 3))]
        if i % 5 == 0:
            specs.append(spec(bar, f"RL-{i - 5}"))  # known to the venue: reported, not taken again
        expected = reference.submit_checked(specs)
        assert venue.submit_checked(specs) == expected and deferring.submit_checked(specs) == expected
        assert venue.take_view() == deferring.take_view()
    for paper in (*venues, deferring):
        assert paper.account() == reference.account() and paper.positions() == reference.positions()
        assert paper.open_orders() == reference.open_orders()
        assert [paper.get_order(f"RL-{i}") for i in range(40)] == [
            reference.get_order(f"RL-{i}") for i in range(40)
        ]


def test_an_order_taken_as_new_but_known_is_reported_as_held(redis_client: redis_lib.Redis) -> None:
    """The mirror knows the working orders only: an order the venue closed is taken as new,
    the script finds it, and the unit runs again reading it (nothing taken twice)."""
    venue = PaperBroker(redis_client, Keys(), CONFIG)
    bars = real_bars("ETHBTC", 3)
    venue.on_bars([bars[0]])
    ((first, held),) = venue.submit_checked([spec(bars[0], "RL-a")])
    assert first.status is OrderStatus.ACCEPTED and not held
    venue.on_bars([bars[1]])  # fills it: no longer working
    ((again, held),) = venue.submit_checked([spec(bars[1], "RL-a")])
    assert held and again.status is OrderStatus.FILLED and again == venue.get_order("RL-a")
    assert redis_client.hlen(PaperState(redis_client, Keys()).orders_key) == 1


def test_deferred_bars_are_matched_before_any_other_answer(redis_client: redis_lib.Redis) -> None:
    """Bars deferred and no order follows: the next call of any kind matches them first."""
    bars = real_bars("ETHBTC", 2)
    venue = PaperBroker(redis_client, Keys(), CONFIG)
    venue.on_bars([bars[0]])
    venue.submit_checked([spec(bars[0], "RL-a")])
    assert venue.on_bars_deferred([bars[1]])
    report = venue.get_order("RL-a")
    assert report is not None and report.status is OrderStatus.FILLED
    venue.on_bars_deferred([bars[1]])
    view = venue.take_view()  # matched again (idempotent): nothing changed
    assert view is not None and view.changed == {} and view.open == {}


def test_the_log_is_not_asked_about_requests_made_after_everything_it_holds(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    bar = real_bars("ETHBTC", 1)[0]
    t = bar.event_time
    order = Order(
        "RL-x", "ridgeline", "ETHBTC", OrderSide.BUY, OrderType.MARKET, D(1), TimeInForce.GTC, t, "trace"
    )
    order.transition(OrderStatus.SUBMITTED, not_before=t)
    OrderStore(redis_client, Keys()).write_ahead(order)
    store = OrderStore(redis_client, Keys())
    assert store.may_hold(t) and not store.may_hold(t + timedelta(minutes=5))
    later = Order("RL-y", "ridgeline", "ETHBTC", OrderSide.BUY, OrderType.MARKET, D(1), TimeInForce.GTC,
                  t + timedelta(minutes=10), "trace")  # fmt: skip
    later.transition(OrderStatus.SUBMITTED, not_before=later.event_time)
    store.commit_op([later])  # raised when the op is made, before it lands
    with round_trips(monkeypatch) as sent:
        assert store.may_hold(t + timedelta(minutes=5)) and store.may_hold(t + timedelta(minutes=10))
        assert not store.may_hold(t + timedelta(minutes=15))
    assert sent[0] == 0
