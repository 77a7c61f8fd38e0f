"""The executor started without Redis (the in-process backtest) against one started on a real
Redis: the same order requests, risk and operator commands and real bars (ETHBTC, LTCBTC) give
exactly the same executions, books and venue account."""

from __future__ import annotations

import pytest
import redis as redis_lib

from ridgeline_executor.brokers.paper.state import MemoryPaperState, PaperState
from ridgeline_executor.service import ExecutorService
from ridgeline_executor.store import MemoryOrderStore, OrderStore
from tests.integration.executor.harness import Harness, executions
from tests.unit.executor.executor_kit import (
    MemoryDriver,
    comparable,
    play,
    scripted_session,
    session_settings,
)

pytestmark = pytest.mark.integration


def test_memory_and_redis_backends_give_the_same_executions(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    session = scripted_session()

    on_redis = ExecutorService(session_settings(redis_url))
    harness = Harness(on_redis, redis_client)
    harness.start()
    redis_out = play(session, harness.tick, harness.command)

    in_memory = ExecutorService(session_settings())
    driver = MemoryDriver(in_memory)
    memory_out = play(session, driver.tick, driver.command)

    assert isinstance(on_redis.store, OrderStore) and isinstance(in_memory.store, MemoryOrderStore)
    assert on_redis.engine is not None and in_memory.engine is not None
    assert isinstance(on_redis.engine.broker.books, PaperState)  # type: ignore[attr-defined]
    assert isinstance(in_memory.engine.broker.books, MemoryPaperState)  # type: ignore[attr-defined]
    assert len(redis_out) > 1000
    assert comparable(memory_out) == comparable(redis_out)
    assert comparable(executions(redis_client)) == comparable(redis_out)  # what reached the stream
    # The executor's state and the venue's books end identical too.
    assert in_memory.snapshot() == on_redis.snapshot()
    assert in_memory.engine.broker.account() == on_redis.engine.broker.account()
    assert in_memory.engine.broker.positions() == on_redis.engine.broker.positions()
    assert in_memory.engine.broker.open_orders() == on_redis.engine.broker.open_orders()
    for cid in sorted(session.requests)[::25]:
        assert in_memory.store.events(cid) == on_redis.store.events(cid)
    assert in_memory.store.recent_fills(50) == on_redis.store.recent_fills(50)
    assert in_memory.store.recent_reports(50) == on_redis.store.recent_reports(50)
