"""The paper venue's books in Redis, per symbol: a restarted venue rebuilds its statistics from
the bars it kept, bit for bit; the kept bars stay bounded; a view equals a read; and the order
log reads records an earlier version wrote (one hash and one event list per order)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import redis as redis_lib

from ridgeline_executor.brokers.base import OrderSpec
from ridgeline_executor.brokers.paper.broker import PaperBroker
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.brokers.paper.redis_books import TRIM_SLACK, PaperState
from ridgeline_executor.brokers.paper.state import MemoryPaperState
from ridgeline_executor.orders.order import Order
from ridgeline_executor.store import OrderStore
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.keys import Keys
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tests.integration.executor.harness import real_bars

pytestmark = pytest.mark.integration
D = Decimal
CONFIG = PaperBrokerConfig(initial_cash=D(1_000_000))


def buy(bar: Bar, n: int) -> OrderSpec:
    return OrderSpec(f"RL-{n}", bar.symbol, OrderSide.BUY, OrderType.MARKET, D(500 + n), TimeInForce.GTC,
                     bar.event_time)  # fmt: skip


def test_a_restarted_venue_rebuilds_its_statistics_bit_for_bit(redis_client: redis_lib.Redis) -> None:
    """Impact and spread need the statistics (sigma from 20 returns, spread from 30 terms): the
    fills of a venue restarted twice (its cache gone, rebuilt from the kept bars) equal an
    uninterrupted one's."""
    bars = list(real_bars("ETHBTC", 90))
    reference = PaperBroker(MemoryPaperState(), config=CONFIG)
    venue = PaperBroker(redis_client, Keys(), CONFIG)
    for i, bar in enumerate(bars):
        if i in (45, 70):
            venue = PaperBroker(redis_client, Keys(), CONFIG)
        reference.on_bars([bar])
        venue.on_bars([bar])
        if i % 4 == 0:
            assert venue.submit_many([buy(bar, i)]) == reference.submit_many([buy(bar, i)])
    filled = [reference.get_order(f"RL-{i}") for i in range(0, 88, 4)]
    assert all(r is not None and r.status is OrderStatus.FILLED for r in filled)
    assert [venue.get_order(f"RL-{i}") for i in range(0, 88, 4)] == filled
    assert venue.account() == reference.account() and venue.positions() == reference.positions()
    assert venue.market_costs("ETHBTC") == reference.market_costs("ETHBTC")
    costs = venue.market_costs("ETHBTC")
    assert costs.sigma_daily_bps is not None and costs.adv is not None


def test_kept_bars_stay_bounded(redis_client: redis_lib.Redis) -> None:
    market = MarketConfig(
        vol_window_bars=10, spread_window_bars=10, adv_window_bars=10, spread_min_bars=5, sigma_min_bars=5
    )
    venue = PaperBroker(redis_client, Keys(), CONFIG, market=market)
    for bar in real_bars("ETHBTC", 11 + TRIM_SLACK + 20):
        venue.on_bars([bar])
    state = venue.books
    assert isinstance(state, PaperState)
    assert 11 <= redis_client.llen(state.bars_key("ETHBTC")) <= 11 + TRIM_SLACK


def test_a_view_equals_what_a_read_sees(redis_client: redis_lib.Redis) -> None:
    bars = list(real_bars("ETHBTC", 3))
    venue = PaperBroker(redis_client, Keys(), CONFIG)
    venue.on_bars([bars[0]])
    limit = OrderSpec("RL-lim", "ETHBTC", OrderSide.BUY, OrderType.LIMIT, D(5), TimeInForce.GTC,
                      bars[0].event_time, D("0.05"))  # fmt: skip
    reports = venue.submit_many([buy(bars[0], 1), limit])
    view = venue.take_view()
    assert view is not None and list(view.changed.values()) == reports
    assert list(view.open.values()) == venue.open_orders()
    venue.on_bars([bars[1]])
    view = venue.take_view()
    assert view is not None and list(view.open) == ["RL-lim"]
    assert view.changed == {"RL-1": venue.get_order("RL-1")}


def test_the_order_log_reads_what_an_earlier_version_wrote(redis_client: redis_lib.Redis) -> None:
    store = OrderStore(redis_client, Keys())
    bar = real_bars("ETHBTC", 1)[0]
    order = Order("RL-old", "ridgeline", "ETHBTC", OrderSide.BUY, OrderType.MARKET, D(3), TimeInForce.GTC,
                  bar.event_time, "trace")  # fmt: skip
    order.transition(OrderStatus.SUBMITTED, not_before=bar.event_time)
    order.transition(OrderStatus.ACCEPTED, not_before=bar.event_time)
    events = [json.dumps(e.to_dict()) for e in order.events]
    redis_client.hset(store.order_key("RL-old"), mapping={"record": json.dumps(order.to_dict())})
    redis_client.rpush(store.events_key("RL-old"), *events)
    redis_client.zadd(store.index_key, {"RL-old": bar.event_time.timestamp()})
    loaded = store.load_many(["RL-old", "RL-new"])
    assert loaded["RL-new"] is None
    old = loaded["RL-old"]
    assert old is not None and old.status is OrderStatus.ACCEPTED and old.logged == 2
    assert store.events("RL-old") == [json.loads(e) for e in events]
    store.commit_op([old])(pipe := redis_client.pipeline(transaction=True))
    pipe.execute()
    assert store.events("RL-old") == [json.loads(e) for e in events]  # now from the new record
    again = store.load("RL-old")
    assert again is not None and again.to_dict() == old.to_dict()
