"""The executor started without Redis (the in-process backtest): order log and paper venue in
memory, same behaviour. Fills at the next open, redeliveries that send nothing, cancel-all and
flatten from risk and the operator, the venue's units of work whole or not at all. The
comparison with a Redis-backed run is tests/integration/executor/test_executor_in_memory_parity.py."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from ridgeline_executor.brokers.base import DuplicateClientOrderIdError, OrderSpec
from ridgeline_executor.brokers.factory import make_broker
from ridgeline_executor.brokers.paper.broker import PaperBroker
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.brokers.paper.state import BooksView, MemoryPaperState
from ridgeline_executor.service import ExecutorService
from ridgeline_executor.store import MemoryOrderStore
from ridgeline_shared.ids import trade_id
from ridgeline_shared.messages.enums import (
    ExecutorCommandKind,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from tests.support.bars import real_bars
from tests.unit.executor.executor_kit import (
    MemoryDriver,
    aligned_bars,
    command,
    play,
    request,
    scripted_session,
    session_settings,
    settings,
)

pytestmark = pytest.mark.unit
S = OrderStatus
D = Decimal


def started() -> tuple[MemoryDriver, ExecutorService]:
    service = ExecutorService(settings())
    return MemoryDriver(service), service


def test_order_made_at_t_is_acknowledged_at_t_fills_at_t_plus_1_open_and_a_redelivery_sends_nothing() -> None:
    driver, service = started()
    assert isinstance(service.store, MemoryOrderStore)
    assert service.engine is not None and isinstance(service.engine.broker, PaperBroker)
    assert isinstance(service.engine.broker.books, MemoryPaperState)
    assert service.ready() == (True, "ok")
    bars = list(real_bars("ETHBTC", 4))
    req = request(bars[0], OrderSide.BUY, "50")
    out = driver.tick(bars[0].event_time, [req], [bars[0]])
    # Sent within its own tick, after bar 0 was matched: acknowledged at once, never filled on it.
    assert [(e.status, e.sequence) for e in out] == [(S.SUBMITTED, 0), (S.ACCEPTED, 1)]
    assert {e.event_time for e in out} == {bars[0].event_time}
    out = driver.tick(bars[1].event_time, bars=[bars[1]])
    assert [(e.status, e.sequence, e.event_time) for e in out] == [(S.FILLED, 2, bars[1].event_time)]
    fill = out[0].fill
    # Bar 1's open 0.09946999 plus half the default 5 bps spread, on the tick grid (up for a buy).
    assert (
        fill is not None
        and fill.price == D("0.09949486")
        and fill.trade_id == trade_id("paper", req.client_order_id, 0)
    )
    assert out[0].order_event_time == bars[0].event_time
    assert driver.tick(bars[2].event_time, [req], [bars[2]]) == []  # redelivered: nothing sent
    store = service.store
    assert [e["status"] for e in store.events(req.client_order_id)] == ["SUBMITTED", "ACCEPTED", "FILLED"]
    assert store.trade_known(fill.trade_id) and store.open_ids() == []
    assert [f["trade_id"] for f in store.recent_fills(10)] == [fill.trade_id]
    ledger = service.book.ledger
    assert ledger is not None and ledger.quantity("ETHBTC") == 50
    assert ledger.cash == D(100) - 50 * fill.price - fill.commission
    assert service.engine.reconcile()["differences"] == []  # the venue's books agree to the last digit


def test_cancel_all_and_flatten_from_risk_and_the_operator() -> None:
    driver, service = started()
    bars = list(real_bars("ETHBTC", 7))
    buy = request(bars[0], OrderSide.BUY, "40")
    resting = request(bars[0], OrderSide.BUY, "10", 1, OrderType.LIMIT, D("0.05"))
    out = driver.tick(bars[0].event_time, [buy, resting], [bars[0]])
    assert [e.status for e in out] == [S.SUBMITTED, S.ACCEPTED] * 2
    # Tick 1: bar 1 fills the buy first; then risk's cancel-all (twice: carried out once) cancels
    # what still works, the resting limit.
    cancel = command(bars[1], ExecutorCommandKind.CANCEL_ALL, 1)
    out = driver.tick(bars[1].event_time, [cancel, cancel], [bars[1]])
    assert sorted((e.client_order_id, e.sequence, e.status) for e in out) == sorted(
        [
            (buy.client_order_id, 2, S.FILLED),
            (resting.client_order_id, 2, S.PENDING_CANCEL),
            (resting.client_order_id, 3, S.CANCELED),
        ]
    )
    flatten = command(bars[2], ExecutorCommandKind.FLATTEN, 2)
    out = driver.tick(bars[2].event_time, [flatten], [bars[2]])  # made at tick 2: sent at once
    assert [e.status for e in out] == [S.SUBMITTED, S.ACCEPTED]
    assert out[0].side is OrderSide.SELL and out[0].quantity == 40
    closing = out[0].client_order_id
    # Closed at bar 3's open; the flatten redelivered with tick 3 sends nothing new.
    out = driver.tick(bars[3].event_time, [flatten], [bars[3]])
    assert [(e.client_order_id, e.status) for e in out] == [(closing, S.FILLED)]
    ledger = service.book.ledger
    assert ledger is not None and ledger.quantity("ETHBTC") == 0

    # The operator, between ticks: a new position, then flatten, filled at the next bar's open.
    driver.tick(bars[4].event_time, [request(bars[4], OrderSide.BUY, "7", 3)], [bars[4]])
    driver.tick(bars[5].event_time, bars=[bars[5]])
    assert ledger.quantity("ETHBTC") == 7
    sent = driver.command("flatten", {"reason": "desk"})["orders"]
    assert len(sent) == 1
    out = driver.tick(bars[6].event_time, bars=[bars[6]])
    assert [(e.client_order_id, e.status) for e in out] == [
        (sent[0], S.SUBMITTED),
        (sent[0], S.ACCEPTED),
        (sent[0], S.FILLED),
    ]
    assert ledger.quantity("ETHBTC") == 0 and service.engine is not None
    assert service.engine.reconcile()["differences"] == []


def test_the_scripted_session_covers_every_outcome_and_ends_agreeing_with_the_venue() -> None:
    """The session the parity test replays on Redis, here in memory: it reaches every terminal
    status and partial fills, and the executor's books equal the venue's at the end."""
    service = ExecutorService(session_settings())
    driver = MemoryDriver(service)
    out = play(scripted_session(), driver.tick, driver.command)
    statuses = Counter(e.status for e in out)
    assert set(statuses) == set(S) - {S.INITIALIZED, S.DENIED}  # never denied: the venue always answers
    fills = [e for e in out if e.fill is not None]
    assert fills and all(e.order_event_time is not None and e.event_time > e.order_event_time for e in fills)
    engine = service.engine
    assert engine is not None
    summary = engine.reconcile("test")
    assert summary["differences"] == [] and summary["fills"] == 0
    ledger, venue = service.book.ledger, engine.broker.account()
    assert (
        ledger is not None
        and ledger.cash == venue.cash
        and ledger.fills == statuses[S.FILLED] + statuses[S.PARTIALLY_FILLED]
    )


def spec(cid: str, quantity: str = "1") -> OrderSpec:
    bar = next(real_bars("ETHBTC", 1))
    return OrderSpec(
        cid, "ETHBTC", OrderSide.BUY, OrderType.MARKET, D(quantity), TimeInForce.GTC, bar.event_time
    )


def test_memory_books_apply_a_unit_of_work_whole_or_not_at_all() -> None:
    books = MemoryPaperState()
    paper = PaperBroker(books, config=PaperBrokerConfig())
    paper.submit(spec("RL-a"))
    with pytest.raises(DuplicateClientOrderIdError):
        paper.submit(spec("RL-a"))

    def fails(view: BooksView) -> None:
        order = view.orders(["RL-a"]).get("RL-a")
        assert order is not None
        order.status = S.CANCELED  # a read is a copy: changing it changes nothing
        view.put_order(order)
        raise RuntimeError("aborted")

    with pytest.raises(RuntimeError):
        books.transact(fails, ("orders",))
    assert paper.get_order("RL-a") is not None and paper.get_order("RL-a").status is S.ACCEPTED  # type: ignore[union-attr]
    assert [o.client_order_id for o in paper.open_orders()] == ["RL-a"]
    canceled = paper.cancel("RL-a")
    assert canceled is not None and canceled.status is S.CANCELED and paper.open_orders() == []


def test_bars_matched_twice_change_nothing_in_memory() -> None:
    paper = PaperBroker(MemoryPaperState(), config=PaperBrokerConfig())
    eth, _ = aligned_bars(2)[1]
    first = next(real_bars("ETHBTC", 1))
    paper.on_bar(first)
    paper.submit(spec("RL-b", "10"))
    paper.on_bar(first)  # the causing bar again: nothing
    assert paper.positions() == []
    paper.on_bar(eth)
    filled = paper.get_order("RL-b")
    assert filled is not None and filled.status is S.FILLED
    paper.on_bar(eth)  # replayed: idempotent per (symbol, bar time)
    assert paper.get_order("RL-b") == filled and [p.quantity for p in paper.positions()] == [D(10)]


def test_alpaca_needs_redis() -> None:
    alpaca = settings(broker="alpaca", alpaca={"api_key": "k", "secret_key": "s"})
    with pytest.raises(ValueError, match="in-process backtest"):
        make_broker(alpaca, None)
