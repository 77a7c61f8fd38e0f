"""The executor service on a real Redis and the paper venue, tick by tick: fills at the next bar,
redeliveries that send nothing, submissions refused until reconciled, a fill missed while the
connection was down recovered exactly once, cancel-all and flatten, the read routes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ridgeline_executor.brokers.paper.broker import PaperBroker
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.config import ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_executor.store import OrderStore
from ridgeline_shared.ids import trade_id
from ridgeline_shared.keys import Keys
from ridgeline_shared.messages import ExecutorCommand
from ridgeline_shared.messages.enums import ExecutorCommandKind, OrderSide, OrderStatus, OrderType
from ridgeline_shared.runtime.app import create_app
from ridgeline_shared.runtime.worker import Worker
from tests.integration.executor.harness import Crash, FlakyBroker, Harness, real_bars, request, settings

pytestmark = pytest.mark.integration
S = OrderStatus
D = Decimal


def start(
    redis_url: str, client: redis_lib.Redis, down: bool = False, **config: object
) -> tuple[Harness, FlakyBroker]:
    paper = PaperBroker(client, Keys(), PaperBrokerConfig.model_validate(config), bars_per_session=288)
    broker = FlakyBroker(paper)
    broker.down = down
    harness = Harness(ExecutorService(settings(redis_url), broker=broker), client)
    harness.start()
    return harness, broker


def test_market_order_made_at_t_is_acknowledged_at_t_fills_at_t_plus_1_and_a_redelivery_sends_nothing(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    h, broker = start(redis_url, redis_client)
    bars = real_bars("ETHBTC", 4)
    req = request(bars[0], OrderSide.BUY, "50")
    out = h.tick(bars[0].event_time, [req], [bars[0]])
    # Sent within its own tick, after bar 0 was matched: acknowledged at once, never filled on it.
    assert [(e.status, e.sequence) for e in out] == [(S.SUBMITTED, 0), (S.ACCEPTED, 1)]
    assert {e.event_time for e in out} == {bars[0].event_time}
    (filled,) = h.tick(bars[1].event_time, bars=[bars[1]])
    assert (filled.status, filled.sequence, filled.event_time) == (S.FILLED, 2, bars[1].event_time)
    assert filled.fill is not None and filled.fill.price == D("0.09949486")
    assert filled.order_event_time == bars[0].event_time and filled.horizon == "5m"
    # The same request again (a redelivery, a replay): nothing is sent, nothing emitted.
    assert h.tick(bars[2].event_time, [req], [bars[2]]) == []
    assert broker.submissions == 1
    store = OrderStore(redis_client, Keys())
    assert [e["status"] for e in store.events(req.client_order_id)] == ["SUBMITTED", "ACCEPTED", "FILLED"]
    assert redis_client.sismember(store.trades_key, trade_id("paper", req.client_order_id, 0))
    ledger = h.service.book.ledger
    assert ledger is not None and ledger.quantity("ETHBTC") == 50
    assert ledger.cash == D(100) - 50 * D("0.09949486") - filled.fill.commission
    assert h.service.engine is not None
    assert h.service.engine.reconcile()["differences"] == []  # the venue agrees, cash to the last digit


def test_fill_missed_while_disconnected_is_recovered_once(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    h, broker = start(redis_url, redis_client)
    bars = real_bars("ETHBTC", 6)
    limit = request(bars[0], OrderSide.BUY, "30", order_type=OrderType.LIMIT, limit_price="0.0990")
    out = h.tick(bars[0].event_time, [limit], [bars[0]])
    assert [e.status for e in out] == [S.SUBMITTED, S.ACCEPTED]
    assert h.tick(bars[1].event_time, bars=[bars[1]]) == []  # bar 1's low 0.099 does not pass 0.0990

    # Tick 2 (low 0.09900001: still working): the connection drops while the venue is asked
    # about a new request, which is denied (ours, never sent), not rejected.
    late = request(bars[2], OrderSide.SELL, "5", seq=1)
    broker.cut_at_lookup = late.client_order_id
    out = h.tick(bars[2].event_time, [late], [bars[2]])
    assert [(e.client_order_id, e.status) for e in out] == [(late.client_order_id, S.DENIED)]
    assert out[0].reason.startswith("paper unavailable")
    assert h.service.ready()[0] is False
    # The venue trades on without us: bar 3 (low 0.0988) goes through the limit.
    PaperBroker(redis_client, Keys(), PaperBrokerConfig(), 288).on_bar(bars[3])
    later = request(bars[3], OrderSide.SELL, "5", seq=2)
    out = h.tick(bars[3].event_time, [later], [bars[3]])
    assert [e.status for e in out] == [S.DENIED] and out[0].reason.startswith("not reconciled with paper")
    assert broker.submissions == 1

    broker.down = False
    assert h.idle() == []  # reconciled between ticks: the events wait for the next tick
    assert h.service.ready() == (True, "ok")
    out = h.tick(bars[4].event_time, bars=[bars[4]])
    assert [(e.status, e.sequence) for e in out] == [(S.FILLED, 2)]
    assert out[0].fill is not None and out[0].fill.trade_id == trade_id("paper", limit.client_order_id, 0)
    assert out[0].fill.price == D("0.0990") and out[0].event_time == bars[4].event_time
    (booked,) = OrderStore(redis_client, Keys()).recent_fills(10)
    assert booked["bar_time"] == bars[3].event_time.isoformat()  # the bar it was missed on
    # Exactly once: reconciling again and more ticks book nothing more.
    engine = h.service.engine
    assert engine is not None
    summary = engine.reconcile("test")
    assert summary["fills"] == 0 and summary["differences"] == []
    assert h.tick(bars[5].event_time, bars=[bars[5]]) == []
    ledger = h.service.book.ledger
    assert ledger is not None and ledger.fills == 1 and ledger.quantity("ETHBTC") == 30
    assert ledger.cash == broker.account().cash


def test_restart_with_a_write_ahead_record_adopts_the_venue_order(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    """The exact state a crash between submit and ack leaves: the write-ahead in the log, the
    order at the venue, no commit. The restarted executor sends nothing and reports the order."""
    h, broker = start(redis_url, redis_client)
    bars = real_bars("ETHBTC", 3)
    h.tick(bars[0].event_time, bars=[bars[0]])
    req = request(bars[1], OrderSide.BUY, "20")
    h.only_bars([bars[1]])
    engine = h.service.engine
    assert engine is not None
    engine.handle_request(req, bars[1].event_time)  # write-ahead + submit, never committed
    assert broker.submissions == 1

    h2, broker2 = start(redis_url, redis_client)
    out = h2.tick(bars[1].event_time, [req], [bars[1]])  # tick 1 redone
    assert [(e.status, e.sequence) for e in out] == [(S.SUBMITTED, 0), (S.ACCEPTED, 1)]
    out = h2.tick(bars[2].event_time, bars=[bars[2]])
    assert [(e.status, e.sequence) for e in out] == [(S.FILLED, 2)]
    assert broker2.submissions == 0
    assert len(broker2.inner.open_orders()) == 0


def test_crash_before_submit_then_a_restart_without_the_venue_sends_once(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    h, broker = start(redis_url, redis_client)
    bars = real_bars("ETHBTC", 4)
    h.tick(bars[0].event_time, bars=[bars[0]])
    req = request(bars[1], OrderSide.BUY, "20")
    broker.crash_before_submit = True
    with pytest.raises(Crash):
        h.tick(bars[1].event_time, [req], [bars[1]])  # written ahead, never sent, never committed

    h2, broker2 = start(redis_url, redis_client, down=True)  # restarts while the venue is unreachable
    assert h2.service.ready()[0] is False
    out = h2.tick(bars[1].event_time, [req], [bars[1]])
    assert [(e.status, e.sequence) for e in out] == [(S.SUBMITTED, 0)]  # in flight, outcome unknown
    broker2.down = False
    h2.idle()  # reconciliation: the venue never received it and it is fresh, so it is sent now
    out = h2.tick(bars[2].event_time, bars=[bars[2]])
    assert [(e.status, e.sequence) for e in out] == [(S.ACCEPTED, 1), (S.FILLED, 2)]
    assert broker.submissions == 0 and broker2.submissions == 1
    assert h2.tick(bars[3].event_time, [req], [bars[3]]) == []


def test_cancel_all_and_flatten_from_risk_and_operator(redis_url: str, redis_client: redis_lib.Redis) -> None:
    h, broker = start(redis_url, redis_client)
    bars = real_bars("ETHBTC", 5)
    buy = request(bars[0], OrderSide.BUY, "40")
    resting = request(bars[0], OrderSide.BUY, "10", seq=1, order_type=OrderType.LIMIT, limit_price="0.05")
    out = h.tick(bars[0].event_time, [buy, resting], [bars[0]])
    assert [e.status for e in out] == [S.SUBMITTED, S.ACCEPTED] * 2
    cancel = ExecutorCommand(
        event_time=bars[1].event_time, trace_id="halt", command_id="C-1",
        command=ExecutorCommandKind.CANCEL_ALL, reason="kill switch",
    )  # fmt: skip
    # Tick 1: bar 1 fills the buy first; then the cancel-all (twice: carried out once) cancels
    # what still works, the resting limit.
    out = h.tick(bars[1].event_time, [cancel, cancel], [bars[1]])
    assert sorted((e.client_order_id, e.sequence, e.status) for e in out) == sorted(
        [
            (buy.client_order_id, 2, S.FILLED),
            (resting.client_order_id, 2, S.PENDING_CANCEL),
            (resting.client_order_id, 3, S.CANCELED),
        ]
    )
    update = {"command_id": "C-2", "command": ExecutorCommandKind.FLATTEN, "event_time": bars[2].event_time}
    flatten = cancel.model_copy(update=update)
    out = h.tick(bars[2].event_time, [flatten], [bars[2]])  # made at tick 2: sent at once
    assert [e.status for e in out] == [S.SUBMITTED, S.ACCEPTED]
    assert out[0].side is OrderSide.SELL and out[0].quantity == 40
    closing = out[0].client_order_id
    # Closed at bar 3's open; the flatten redelivered with tick 3 sends nothing new.
    out = h.tick(bars[3].event_time, [flatten], [bars[3]])
    assert [(e.client_order_id, e.status) for e in out] == [(closing, S.FILLED)]
    assert h.tick(bars[4].event_time, [flatten], [bars[4]]) == []
    ledger = h.service.book.ledger
    assert ledger is not None and ledger.quantity("ETHBTC") == 0
    # The operator's flatten with nothing open sends nothing; the books stay flat.
    assert h.command("flatten", {"reason": "test"})["orders"] == []
    assert broker.submissions == 3  # the buy, the resting limit, the flatten: nothing twice


def test_read_routes(redis_url: str, redis_client: redis_lib.Redis) -> None:
    h, _ = start(redis_url, redis_client)
    bars = real_bars("ETHBTC", 3)
    req = request(bars[0], OrderSide.BUY, "25")
    h.tick(bars[0].event_time, [req], [bars[0]])
    h.tick(bars[1].event_time, bars=[bars[1]])  # filled at bar 1's open
    h.tick(bars[2].event_time, bars=[bars[2]])  # marked at bar 2's close
    app = FastAPI()
    router = h.service.router()
    assert router is not None
    app.include_router(router)
    client = TestClient(app)
    orders = client.get("/orders").json()["orders"]
    assert [(o["client_order_id"], o["status"], o["filled_quantity"]) for o in orders] == [
        (req.client_order_id, "FILLED", "25")
    ]
    assert client.get("/orders", params={"status": "open"}).json()["orders"] == []
    events = client.get(f"/orders/{req.client_order_id}/events").json()["events"]
    assert [e["sequence"] for e in events] == [0, 1, 2]
    (position,) = client.get("/positions").json()["positions"]
    assert position["quantity"] == "25" and position["last_price"] == repr(bars[2].close)
    (fill,) = client.get("/fills").json()["fills"]
    assert fill["trade_id"] == trade_id("paper", req.client_order_id, 0) and fill["price"] == "0.09949486"
    account = client.get("/account").json()
    ledger = h.service.book.ledger
    assert ledger is not None
    assert D(account["account"]["cash"]) == ledger.cash and D(account["account"]["equity"]) == ledger.equity
    assert client.get("/orders/RL-nope/events").status_code == 404
    # The snapshot names the orders; their records are the order log's.
    assert json.loads(h.service.snapshot())["orders"] == [req.client_order_id]
    restarted = ExecutorService(settings(redis_url), broker=h.service.engine.broker)  # type: ignore[union-attr]
    Harness(restarted, redis_client).start()
    assert restarted.book.orders[req.client_order_id].status is S.FILLED
    assert restarted.snapshot() == h.service.snapshot()


def test_control_endpoints_need_the_token_and_run_in_the_worker(redis_url: str) -> None:
    service = ExecutorService(
        ExecutorSettings.model_validate(
            {"redis_url": redis_url, "mode": "paper", "http": {"control_token": "s3cret"}}
        )
    )
    worker = Worker(service)
    worker.start()
    try:
        assert worker.started.wait(30)
        client = TestClient(create_app(worker))
        assert client.get("/ready").json() == {"ready": True, "reasons": []}
        assert client.post("/control/cancel_all").status_code == 401
        assert client.post("/control/flatten", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert client.post("/control/cancel_all", headers=auth).json()["result"] == {"canceled": []}
        flat = client.post("/control/flatten", headers=auth, json={"reason": "drill"}).json()["result"]
        assert flat["orders"] == [] and flat["command_id"].startswith("C-")
        reconciled = client.post("/control/reconcile", headers=auth).json()["result"]
        assert reconciled["differences"] == []
        status = client.get("/status").json()["service"]
        assert status["reconciled"] is True and status["venue"] == "paper"
        assert client.get("/account").json()["account"]["cash"] == "100"
    finally:
        worker.stop()
