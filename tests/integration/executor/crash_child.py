"""The executor under the real worker, in its own process, for the kill -9 tests.

``CRASH_AT`` makes the process SIGKILL itself at one point of the order's life (the venue's
batch calls are passed through, so the paper venue's own units of work are what is killed):
``before_submit`` (written ahead, not sent), ``after_submit`` (sent and accepted by the venue,
acknowledgement not committed) or ``after_fill`` (the venue filled it on a bar, not committed).
Without it the process runs until the executor forwarded end of data, then exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence

import redis

from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerOrder,
    BrokerPosition,
    OrderSpec,
    VenueView,
)
from ridgeline_executor.brokers.factory import make_broker
from ridgeline_executor.config import ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_shared.config import load_settings
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderStatus
from ridgeline_shared.runtime.worker import Worker


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingBroker(Broker):
    def __init__(self, inner: Broker, crash_at: str, client: redis.Redis, counter: str) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.crash_at = crash_at
        self.client = client
        self.counter = counter
        self.view: VenueView | None = None
        self.checks_client_ids = inner.checks_client_ids

    def submit(self, spec: OrderSpec) -> BrokerOrder:
        self.view = None
        if self.crash_at == "before_submit":
            die()
        self.client.incr(self.counter)  # every order the venue is sent, counted by the test
        report = self.inner.submit(spec)
        if self.crash_at == "after_submit":
            die()
        return report

    def submit_many(self, specs: Sequence[OrderSpec]) -> list[BrokerOrder | None]:
        """The venue's own batch (one unit of work), with the same crash points."""
        if self.crash_at == "before_submit":
            die()
        self.client.incr(self.counter, len(specs))
        reports = self.inner.submit_many(specs)
        if self.crash_at == "after_submit":
            die()
        return reports

    def submit_checked(self, specs: Sequence[OrderSpec]) -> list[tuple[BrokerOrder, bool]]:
        """The venue's batch that looks its ids up as it takes them, with the same crash points
        (every order of it counted as sent)."""
        if self.crash_at == "before_submit":
            die()
        self.client.incr(self.counter, len(specs))
        taken = self.inner.submit_checked(specs)
        self.view = self.inner.take_view()
        if self.crash_at == "after_submit":
            die()
        return taken

    def on_bars_deferred(self, bars: Sequence[Bar]) -> bool:
        """Deferred as the venue defers them (to the tick's submission), except for the crash
        after a fill, which matches at once to see it."""
        if self.crash_at == "after_fill":
            self.on_bars(bars)
            return False
        self.view = None
        return self.inner.on_bars_deferred(bars)

    def settle(self) -> None:
        self.inner.settle()

    def on_bar(self, bar: Bar) -> None:
        self.on_bars([bar])

    def on_bars(self, bars: Sequence[Bar]) -> None:
        self.inner.on_bars(bars)
        view = self.inner.take_view()
        if self.crash_at == "after_fill" and any(
            (o := self.inner.get_order(cid)) is not None and o.status is OrderStatus.FILLED
            for cid in os.environ.get("CRASH_ORDERS", "").split(",")
            if cid
        ):
            die()
        self.view = view

    def take_view(self) -> VenueView | None:
        view, self.view = self.view, None
        return view

    def get_orders(self, client_order_ids: Sequence[str]) -> dict[str, BrokerOrder | None]:
        self.view = None
        return self.inner.get_orders(client_order_ids)

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        self.view = None
        return self.inner.cancel(client_order_id)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        self.view = None
        return self.inner.get_order(client_order_id)

    def open_orders(self) -> list[BrokerOrder]:
        self.view = None
        return self.inner.open_orders()

    def positions(self) -> list[BrokerPosition]:
        self.view = None
        return self.inner.positions()

    def account(self) -> BrokerAccount:
        self.view = None
        return self.inner.account()


def main() -> int:
    settings = load_settings(ExecutorSettings)
    client = redis.Redis.from_url(settings.redis_url)
    counter = f"{settings.prefix}:test:submissions"
    broker = CrashingBroker(make_broker(settings, client), os.environ.get("CRASH_AT", ""), client, counter)
    worker = Worker(ExecutorService(settings, broker=broker))
    worker.start()
    deadline = time.monotonic() + 60
    while worker.alive and not worker.end_of_data and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()
    return 0 if worker.end_of_data and worker.fatal is None else 1


if __name__ == "__main__":
    sys.exit(main())
