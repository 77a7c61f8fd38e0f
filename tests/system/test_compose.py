"""The real compose file: the stack comes up healthy, a replay turns bars into fills, control
refuses without the token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Execution, OrderStatus
from tests.support.waiting import wait_for
from tests.system.stack import SERVICES, TOKEN, ComposeStack

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    stack = ComposeStack.create("ridgeline-system", max_bars=1500)
    stack.down()
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


def test_every_service_is_healthy(stack: ComposeStack) -> None:
    assert stack.health() == dict.fromkeys(SERVICES, 200)


def test_bars_become_fills(stack: ComposeStack) -> None:
    wait_for(stack.finished, "the executor's end of data", limit=600, every=0.5)
    bars = [m for _, m in stack.read(Stream.BARS) if isinstance(m, Bar)]
    executions = [m for _, m in stack.read(Stream.EXECUTIONS) if isinstance(m, Execution)]
    assert len(bars) == 1500
    assert any(e.status is OrderStatus.FILLED for e in executions)
    # A fill never comes from the bar that caused its order.
    assert all(e.order_event_time is None or e.event_time > e.order_event_time for e in executions if e.fill)


def test_control_refuses_without_the_token(stack: ComposeStack) -> None:
    with httpx.Client(timeout=5) as client:
        for name in SERVICES:
            assert client.post(f"{stack.url(name)}/control/pause").status_code == 401
        ok = client.post(
            f"{stack.url('ingest')}/control/resume", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status_code == 200
