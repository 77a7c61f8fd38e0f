"""The paper venue on a real Redis: its books persist on their own, matching a bar twice does
nothing, it never fills on the causing bar, and its account is exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis as redis_lib

from ridgeline_executor.brokers.base import DuplicateClientOrderIdError, OrderSpec
from ridgeline_executor.brokers.paper.broker import PaperBroker
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_shared.ids import trade_id
from ridgeline_shared.keys import Keys
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tests.integration.executor.harness import real_bars

pytestmark = pytest.mark.integration
D = Decimal


def venue(client: redis_lib.Redis, **config: object) -> PaperBroker:
    return PaperBroker(client, Keys(), PaperBrokerConfig.model_validate(config), bars_per_session=288)


def spec(bar: Bar, cid: str, side: OrderSide = OrderSide.BUY, qty: str = "100", **kw: object) -> OrderSpec:
    return OrderSpec(
        client_order_id=cid, symbol=bar.symbol, side=side, order_type=kw.get("kind", OrderType.MARKET),  # type: ignore[arg-type]
        quantity=D(qty), time_in_force=TimeInForce.GTC, event_time=bar.event_time,
        limit_price=kw.get("limit"),  # type: ignore[arg-type]
    )  # fmt: skip


def test_fills_on_the_next_bar_only_and_matching_a_bar_twice_changes_nothing(
    redis_client: redis_lib.Redis,
) -> None:
    bars = real_bars("ETHBTC", 3)
    paper = venue(redis_client)
    paper.on_bar(bars[0])
    accepted = paper.submit(spec(bars[0], "RL-1"))
    assert accepted.status is OrderStatus.ACCEPTED and accepted.venue_order_id
    paper.on_bar(bars[0])  # the causing bar again: no fill, no change
    assert paper.get_order("RL-1") == accepted
    paper.on_bar(bars[1])
    filled = paper.get_order("RL-1")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert [f.trade_id for f in filled.fills] == [trade_id("paper", "RL-1", 0)]
    assert filled.fills[0].price == D("0.09949486") and filled.fills[0].bar_time == bars[1].event_time
    # A restarted executor feeds bar 1 again: idempotent per (symbol, bar time).
    venue(redis_client).on_bar(bars[1])
    assert paper.get_order("RL-1") == filled
    assert paper.open_orders() == []


def test_books_survive_a_restart_and_account_is_exact(redis_client: redis_lib.Redis) -> None:
    bars = real_bars("ETHBTC", 4)
    paper = venue(redis_client, initial_cash=D(100), commission_bps=D(10))
    paper.on_bar(bars[0])
    paper.submit(spec(bars[0], "RL-buy", qty="300"))
    paper.on_bar(bars[1])
    restarted = venue(redis_client, initial_cash=D(100), commission_bps=D(10))
    restarted.submit(spec(bars[1], "RL-sell", OrderSide.SELL, "100"))
    restarted.on_bar(bars[2])
    buy, sell = restarted.get_order("RL-buy"), restarted.get_order("RL-sell")
    assert buy is not None and sell is not None
    b, s = buy.fills[0], sell.fills[0]
    # Hand ledger: cash = 100 - 300 x buy - fee + 100 x sell - fee; fees 10 bps rounded up to 1e-12.
    assert b.commission == D("0.029848458") and s.commission == D("0.009966507")
    expected_cash = D(100) - 300 * b.price - b.commission + 100 * s.price - s.commission
    account = restarted.account()
    assert account.cash == expected_cash
    (position,) = restarted.positions()
    assert position.quantity == 200 and position.avg_entry_price == b.price
    assert account.equity == expected_cash + 200 * D(repr(bars[2].close))


def test_duplicate_client_id_is_refused_and_cancel_is_final(redis_client: redis_lib.Redis) -> None:
    bars = real_bars("ETHBTC", 3)
    paper = venue(redis_client)
    paper.submit(spec(bars[0], "RL-lim", kind=OrderType.LIMIT, limit=D("0.09")))
    with pytest.raises(DuplicateClientOrderIdError):
        paper.submit(spec(bars[0], "RL-lim", kind=OrderType.LIMIT, limit=D("0.09")))
    paper.on_bar(bars[1])
    assert [o.client_order_id for o in paper.open_orders()] == ["RL-lim"]
    canceled = paper.cancel("RL-lim")
    assert canceled is not None and canceled.status is OrderStatus.CANCELED
    paper.on_bar(bars[2])
    assert paper.get_order("RL-lim") == canceled
    assert paper.cancel("RL-unknown") is None


def test_buys_beyond_the_cash_are_rejected_by_the_venue(redis_client: redis_lib.Redis) -> None:
    bars = real_bars("ETHBTC", 2)
    paper = venue(redis_client, initial_cash=D(10))
    paper.on_bar(bars[0])
    rejected = paper.submit(spec(bars[0], "RL-big", qty="1000"))  # ~99.5 > 10
    assert rejected.status is OrderStatus.REJECTED and "buying power" in rejected.reason
    assert paper.get_order("RL-big") == rejected  # the venue remembers what it refused
    paper.on_bar(bars[1])
    assert paper.positions() == []
