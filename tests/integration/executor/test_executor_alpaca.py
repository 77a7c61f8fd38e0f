"""The Alpaca adapter (alpaca-py's TradingClient) against a local server that speaks Alpaca's v2
order, position and account API; then the executor on it: fills missed during an outage are
synthesised with deterministic ids, and a restart after submit sends nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis as redis_lib

from ridgeline_executor.brokers.alpaca.broker import AlpacaBroker
from ridgeline_executor.brokers.alpaca.config import AlpacaConfig
from ridgeline_executor.brokers.base import (
    BrokerError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderSpec,
)
from ridgeline_executor.config import ExecutorConfig, ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_shared.ids import trade_id
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tests.integration.executor.alpaca_stub import KEY, SECRET, AlpacaStub
from tests.integration.executor.harness import Harness, real_bars, request

pytestmark = pytest.mark.integration
D = Decimal
S = OrderStatus
NOW = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


@pytest.fixture
def stub() -> Iterator[AlpacaStub]:
    with AlpacaStub() as server:
        yield server


def broker(stub: AlpacaStub, **config: object) -> AlpacaBroker:
    return AlpacaBroker(
        AlpacaConfig.model_validate({"api_key": KEY, "secret_key": SECRET, "url": stub.url, **config})
    )


def spec(cid: str, side: OrderSide = OrderSide.BUY, qty: str = "10", limit: str | None = None) -> OrderSpec:
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    return OrderSpec(
        cid, "AAPL", side, kind, D(qty), TimeInForce.DAY, NOW, None if limit is None else D(limit)
    )


def test_submit_query_cancel_list_positions_account(stub: AlpacaStub) -> None:
    alpaca = broker(stub)
    accepted = alpaca.submit(spec("RL-1"))
    assert accepted.status is S.ACCEPTED and accepted.client_order_id == "RL-1" and accepted.venue_order_id
    method, path, body = stub.venue.requests[-1]
    assert (method, path) == ("POST", "/v2/orders")
    assert body["client_order_id"] == "RL-1" and body["qty"] == 10 and body["side"] == "buy"
    assert alpaca.get_order("RL-1") == accepted
    assert stub.venue.requests[-1][:2] == ("GET", "/v2/orders:by_client_order_id")
    assert alpaca.get_order("RL-never") is None
    with pytest.raises(DuplicateClientOrderIdError):
        alpaca.submit(spec("RL-1"))

    stub.venue.fill("RL-1", "4", "187.10")
    (working,) = alpaca.open_orders()
    assert working.status is S.PARTIALLY_FILLED and working.filled_quantity == 4
    assert working.avg_fill_price == D("187.10")
    canceled = alpaca.cancel("RL-1")
    assert canceled is not None and canceled.status is S.CANCELED and canceled.filled_quantity == 4
    assert alpaca.open_orders() == []
    again = alpaca.cancel("RL-1")  # closed: Alpaca answers 422, the report says what it is
    assert again is not None and again.status is S.CANCELED

    alpaca.submit(spec("RL-2", OrderSide.SELL, "9", limit="190.5"))
    stub.venue.fill("RL-2", "9", "190.5")
    (position,) = alpaca.positions()
    assert position.symbol == "AAPL" and position.quantity == -5  # 4 bought, 9 sold: short 5
    account = alpaca.account()
    assert account.cash == D("100000") - 4 * D("187.10") + 9 * D("190.5") and account.currency == "USD"


def test_rejections_errors_and_outages(stub: AlpacaStub) -> None:
    alpaca = broker(stub)
    stub.venue.reject_next = "insufficient buying power"
    rejected = alpaca.submit(spec("RL-r"))
    assert rejected.status is S.REJECTED and "insufficient buying power" in rejected.reason
    wrong_key = AlpacaBroker(AlpacaConfig(api_key="nope", secret_key="nope", url=stub.url))
    with pytest.raises(BrokerError) as denied:
        wrong_key.get_order("RL-r")
    assert not isinstance(denied.value, BrokerUnavailableError)  # an answer, not an outage
    stub.venue.offline = True
    with pytest.raises(BrokerUnavailableError):
        alpaca.submit(spec("RL-o"))
    with pytest.raises(BrokerUnavailableError):
        alpaca.open_orders()


def alpaca_service(redis_url: str, stub: AlpacaStub) -> ExecutorService:
    config = ExecutorConfig(
        broker="alpaca", alpaca=AlpacaConfig(api_key=KEY, secret_key=SECRET, url=stub.url)
    )
    return ExecutorService(ExecutorSettings(redis_url=redis_url, mode="live", executor=config))


def test_fills_missed_during_an_outage_are_synthesised_once(
    redis_url: str, redis_client: redis_lib.Redis, stub: AlpacaStub
) -> None:
    h = Harness(alpaca_service(redis_url, stub), redis_client)
    h.start()
    bars = real_bars("ETHBTC", 4)
    req = request(bars[0], OrderSide.BUY, "10")
    out = h.tick(bars[0].event_time, [req], [bars[0]])
    assert [(e.status, e.event_time) for e in out] == [
        (s, bars[0].event_time) for s in (S.SUBMITTED, S.ACCEPTED)
    ]
    stub.venue.fill(req.client_order_id, "4", "0.0995")
    (partial,) = h.tick(bars[1].event_time, bars=[bars[1]])
    assert partial.status is S.PARTIALLY_FILLED and partial.fill is not None
    assert partial.fill.trade_id == trade_id("alpaca", req.client_order_id, 0)

    stub.venue.offline = True
    stub.venue.fill(req.client_order_id, "6", "0.0996")
    assert h.tick(bars[2].event_time, bars=[bars[2]]) == []
    assert h.service.ready()[0] is False
    stub.venue.offline = False
    h.idle()
    (filled,) = h.tick(bars[3].event_time, bars=[bars[3]])
    assert filled.status is S.FILLED and filled.fill is not None
    # The venue's cumulative 10 at (4 x 0.0995 + 6 x 0.0996) / 10: the missed 6 at exactly 0.0996.
    assert filled.fill.trade_id == trade_id("alpaca", req.client_order_id, 1)
    assert filled.fill.quantity == 6 and filled.fill.price == D("0.0996")
    assert filled.avg_fill_price == D("0.09956")
    engine = h.service.engine
    assert engine is not None
    assert engine.reconcile("again")["fills"] == 0
    ledger = h.service.book.ledger
    assert ledger is not None and ledger.quantity("ETHBTC") == 10
    assert ledger.cash == D(100_000) - D("0.3980") - D("0.5976") == engine.broker.account().cash


def test_restart_after_submit_sends_nothing_twice(
    redis_url: str, redis_client: redis_lib.Redis, stub: AlpacaStub
) -> None:
    h = Harness(alpaca_service(redis_url, stub), redis_client)
    h.start()
    bars = real_bars("ETHBTC", 2)
    h.tick(bars[0].event_time, bars=[bars[0]])
    req = request(bars[1], OrderSide.SELL, "3")
    h.only_bars([bars[1]])
    engine = h.service.engine
    assert engine is not None
    engine.handle_request(req, bars[1].event_time)  # sent in tick 1; the process dies before the commit

    restarted = Harness(alpaca_service(redis_url, stub), redis_client)
    restarted.start()
    out = restarted.tick(bars[1].event_time, [req], [bars[1]])  # tick 1 redone
    assert [(e.status, e.sequence) for e in out] == [(S.SUBMITTED, 0), (S.ACCEPTED, 1)]
    posts = [r for r in stub.venue.requests if r[0] == "POST"]
    assert len(posts) == 1 and posts[0][2]["client_order_id"] == req.client_order_id
