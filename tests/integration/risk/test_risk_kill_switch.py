"""The kill switch on a real Redis through the real worker and control app: it stops new orders
and survives a restart of the risk service, with or without its snapshot."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, cast

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from ridgeline_risk.config import RiskSettings
from ridgeline_risk.service import RiskService
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import (
    Bar,
    Decision,
    DenialReason,
    ExecutorCommand,
    ExecutorCommandKind,
    Message,
    OrderRequest,
    RiskEvent,
    RiskEventKind,
    Watermark,
)
from ridgeline_shared.runtime.app import create_app
from ridgeline_shared.runtime.worker import Worker
from tests.support.bars import publish_ticks, real_bars
from tests.support.waiting import wait_for
from tests.unit.risk.risk_kit import signal_for

pytestmark = pytest.mark.integration
KEYS = Keys()
TOKEN = "risk-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def read(client: redis_lib.Redis, stream: Stream) -> list[Message]:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(KEYS.stream(stream)))
    return [m for _, fields in entries for m in codec.messages_of(stream, fields)]


def state_record(client: redis_lib.Redis) -> dict[str, Any]:
    raw = client.get(KEYS.service_state("risk", "trading_state"))
    assert isinstance(raw, bytes)
    record: dict[str, Any] = json.loads(raw)
    return record


def ticks_done(client: redis_lib.Redis, until: datetime) -> bool:
    marks = [m for m in read(client, Stream.ORDERS) if isinstance(m, Watermark)]
    return bool(marks) and marks[-1].event_time >= until


def publish(client: redis_lib.Redis, bars: list[Bar], decision: Decision = Decision.BUY) -> datetime:
    """Bars (with watermarks, as ingest), a signal per bar (as the blender) and an executions
    watermark per tick (as an executor that had nothing to report)."""
    publish_ticks(client, KEYS, bars, end_of_data=False)
    times = sorted({b.event_time for b in bars})
    for t in times:
        for bar in sorted((b for b in bars if b.event_time == t), key=lambda b: b.symbol):
            alpha = 30.0 if decision is Decision.BUY else -30.0
            signal = signal_for(bar, decision, alpha_bps=alpha, p_peak=0.3, p_valley=0.3, alpha_5m_bps=0.0)
            client.xadd(KEYS.stream(Stream.SIGNALS), codec.encode(signal))  # type: ignore[arg-type]
        for stream, producer in ((Stream.SIGNALS, "blender"), (Stream.EXECUTIONS, "executor")):
            mark = Watermark(event_time=t, trace_id=f"wm@{t}", producer=producer)
            client.xadd(KEYS.stream(stream), codec.encode(mark))  # type: ignore[arg-type]
    return times[-1]


@pytest.fixture
def start_risk(redis_url: str) -> Iterator[Callable[[], tuple[Worker, TestClient]]]:
    workers: list[Worker] = []

    def start() -> tuple[Worker, TestClient]:
        settings = RiskSettings(redis_url=redis_url, http={"control_token": TOKEN})
        worker = Worker(RiskService(settings))
        worker.start()
        workers.append(worker)
        wait_for(worker.started.is_set, "the risk worker to start")
        return worker, TestClient(create_app(worker))

    yield start
    for worker in workers:
        worker.stop()


def bars_at(rows: range) -> list[Bar]:
    eth = list(real_bars("ETHBTC", rows.stop))[rows.start :]
    ltc = list(real_bars("LTCBTC", rows.stop))[rows.start :]
    return [*eth, *ltc]


@pytest.mark.parametrize("lose_snapshot", [False, True])
def test_the_kill_switch_stops_new_orders_and_survives_a_restart(
    redis_client: redis_lib.Redis,
    start_risk: Callable[[], tuple[Worker, TestClient]],
    lose_snapshot: bool,
) -> None:
    first = publish(redis_client, bars_at(range(4)))
    worker, http = start_risk()
    wait_for(lambda: ticks_done(redis_client, first), "the first ticks")
    sent = [m for m in read(redis_client, Stream.ORDERS) if isinstance(m, OrderRequest)]
    assert {o.symbol for o in sent} == {"ETHBTC", "LTCBTC"}

    assert http.post("/control/kill", json={}).status_code in (401, 403)  # no token, no kill
    response = http.post("/control/kill", json={"reason": "integration"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["trading_state"] == "HALTED"
    cancels = [m for m in read(redis_client, Stream.ORDERS) if isinstance(m, ExecutorCommand)]
    assert [c.command for c in cancels] == [ExecutorCommandKind.CANCEL_ALL]
    assert state_record(redis_client)["state"] == "HALTED"
    before = len([m for m in read(redis_client, Stream.ORDERS) if isinstance(m, OrderRequest)])
    worker.stop()

    if lose_snapshot:
        redis_client.delete(KEYS.snapshot("risk"))
    worker, http = start_risk()
    assert worker.service.status()["trading_state"] == "HALTED"
    # SELL signals: a new target whichever working orders the restarted risk knows of (without
    # the snapshot it no longer knows the kill's closing orders: commands are not in its inputs).
    second = publish(redis_client, bars_at(range(4, 8)), Decision.SELL)
    wait_for(lambda: ticks_done(redis_client, second), "the ticks after the restart")
    after = [m for m in read(redis_client, Stream.ORDERS) if isinstance(m, OrderRequest)]
    assert len(after) == before  # nothing new while halted
    denied = [
        e
        for e in read(redis_client, Stream.RISK_EVENTS)
        if isinstance(e, RiskEvent) and e.kind is RiskEventKind.DENIAL and e.event_time > first
    ]
    assert denied and {d.reason_code for d in denied} == {DenialReason.TRADING_HALTED}
    assert http.get("/status").json()["service"]["trading_state"] == "HALTED"

    # Only a confirmed, authenticated reset lifts the halt.
    assert http.post("/control/reset", json={}, headers=AUTH).status_code == 400
    response = http.post("/control/reset", json={"confirm": True}, headers=AUTH)
    assert response.json()["result"]["trading_state"] == "ACTIVE"
    assert state_record(redis_client)["state"] == "ACTIVE"
    third = publish(redis_client, bars_at(range(8, 9)), Decision.SELL)
    wait_for(lambda: ticks_done(redis_client, third), "a tick after the reset")
    new = [
        m for m in read(redis_client, Stream.ORDERS) if isinstance(m, OrderRequest) and m.event_time == third
    ]
    assert {o.symbol for o in new} == {"ETHBTC", "LTCBTC"}
