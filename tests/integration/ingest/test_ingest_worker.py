"""Ingest under the real worker on a real Redis: the bars stream it writes, a restart that resumes
without republishing, and the HTTP control plane (start, pause, stop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from ridgeline.replay import end_of_data
from ridgeline_ingest.service import IngestService
from ridgeline_ingest.settings import IngestSettings
from ridgeline_shared import codec
from ridgeline_shared.config import load_settings
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Bar, Message, Watermark
from ridgeline_shared.runtime.app import create_app
from ridgeline_shared.runtime.worker import Worker
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
TOKEN = "t0ken"


def bars_stream(client: redis_lib.Redis, prefix: str = "ridgeline") -> list[Message]:
    entries = client.xrange(Keys(prefix).stream(Stream.BARS))
    return [m for _, fields in entries for m in codec.messages_of(Stream.BARS, fields)]


@pytest.fixture
def worker_factory(redis_url: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(prefix: str = "ridgeline", **ingest: Any) -> Worker:
        settings = load_settings(
            IngestSettings, redis_url=redis_url, prefix=prefix, http={"control_token": TOKEN}, ingest=ingest
        )
        worker = Worker(IngestService(settings))
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def strip_trace(messages: list[Message]) -> list[str]:
    return [m.model_copy(update={"trace": {}}).model_dump_json() for m in messages]


def test_replay_writes_ticks_and_one_end_of_data(
    worker_factory: Callable[..., Worker], redis_client: redis_lib.Redis
) -> None:
    worker_factory(symbols=["ETHBTC", "TRXBTC"], max_bars=600)
    wait_for(lambda: end_of_data(redis_client, Keys(), Stream.BARS), "end of data")
    messages = bars_stream(redis_client)
    bars = [m for m in messages if isinstance(m, Bar)]
    marks = [m for m in messages if isinstance(m, Watermark)]
    assert len(bars) == 600
    assert len(marks) == 301  # 300 ticks + end of data
    assert [m.end_of_data for m in marks].count(True) == 1
    assert marks[-1].stats["bars_published"] == 600
    assert all("ingest" in b.trace for b in bars)  # the worker stamps the publish time
    # Per tick: the bars of one close time, sorted by symbol, then its watermark.
    tick: list[Bar] = []
    for message in messages[:-1]:
        if isinstance(message, Bar):
            tick.append(message)
            continue
        assert [b.symbol for b in tick] == ["ETHBTC", "TRXBTC"]
        assert {b.event_time for b in tick} == {message.event_time}
        tick = []


def test_a_restarted_ingest_resumes_without_republishing(
    worker_factory: Callable[..., Worker], redis_client: redis_lib.Redis
) -> None:
    worker_factory(prefix="straight", symbols=["ADABTC", "XRPETH"], max_bars=160)
    wait_for(lambda: end_of_data(redis_client, Keys("straight"), Stream.BARS), "the uninterrupted run")
    straight = bars_stream(redis_client, "straight")

    first = worker_factory(prefix="restarted", symbols=["ADABTC", "XRPETH"], max_bars=160, speed=6000.0)
    wait_for(lambda: len(bars_stream(redis_client, "restarted")) >= 30, "some ticks")
    first.stop()
    assert not end_of_data(redis_client, Keys("restarted"), Stream.BARS)
    worker_factory(prefix="restarted", symbols=["ADABTC", "XRPETH"], max_bars=160, speed=6000.0)
    wait_for(lambda: end_of_data(redis_client, Keys("restarted"), Stream.BARS), "the resumed run", limit=120)
    assert strip_trace(bars_stream(redis_client, "restarted")) == strip_trace(straight)


def test_http_control_start_pause_stop(
    worker_factory: Callable[..., Worker], redis_client: redis_lib.Redis
) -> None:
    worker = worker_factory(symbols=["LTCBTC"], autostart=False, speed=3000.0)
    client = TestClient(create_app(worker))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    wait_for(worker.started.is_set, "the worker")
    assert client.get("/status").json()["service"]["phase"] == "idle"
    assert client.post("/control/start", json={"max_bars": 1000}).status_code == 401
    assert client.post("/control/start", json={"paths": ["/etc"]}, headers=auth).status_code == 400
    response = client.post("/control/start", json={"max_bars": 1000}, headers=auth)
    assert response.status_code == 200
    assert response.json()["result"]["phase"] == "running"
    wait_for(lambda: len(bars_stream(redis_client)) >= 10, "ticks")
    assert client.post("/control/pause", headers=auth).json()["result"] == {"paused": True}
    assert client.post("/control/resume", headers=auth).json()["result"] == {"paused": False}
    stopped = client.post("/control/stop", headers=auth).json()["result"]
    assert stopped["changed"] is True
    wait_for(lambda: end_of_data(redis_client, Keys(), Stream.BARS), "end of data")
    eod = bars_stream(redis_client)[-1]
    assert isinstance(eod, Watermark)
    assert eod.stats["stopped"] == 1
    status = client.get("/status").json()["service"]
    assert status["phase"] == "finished"
    assert status["symbols"]["LTCBTC"]["bars"] == eod.stats["bars_published"]
    assert client.post("/control/start", headers=auth).status_code == 400
