"""Drives an ExecutorService as the worker does, one tick at a time, each tick committed with its
executions, its log writes and the snapshot in one MULTI/EXEC, so tests control what happens
between ticks (a lost connection, the venue trading on while the executor is away)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis as redis_lib

from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailableError,
    OrderSpec,
)
from ridgeline_executor.config import ExecutorConfig, ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_shared import codec
from ridgeline_shared.ids import client_order_id
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Execution, Message, OrderRequest, Watermark
from ridgeline_shared.messages.enums import OrderSide, OrderType
from ridgeline_shared.runtime.service import Outbox

REPO = Path(__file__).resolve().parents[3]
DATA = [REPO / "data" / "market", REPO.parent / "shared" / "data" / "market"]


def real_bars(symbol: str = "ETHBTC", limit: int = 10, skip: int = 0) -> list[Bar]:
    """Bars of a bundled real 5m file (freqtrade test data, see data/market/SOURCES.md)."""
    path = next(d / f"{symbol}_5m.csv" for d in DATA if (d / f"{symbol}_5m.csv").exists())
    out: list[Bar] = []
    with path.open() as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i < skip:
                continue
            if len(out) >= limit:
                break
            opened = datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))
            close = opened + timedelta(minutes=5)
            bar = Bar(
                event_time=close, trace_id=f"{symbol}@{close.isoformat()}", symbol=symbol, interval="5m",
                open_time=opened, open=float(row["open"]), high=float(row["high"]), low=float(row["low"]),
                close=float(row["close"]), volume=float(row["volume"]), received_at=close, source="test",
            )  # fmt: skip
            out.append(bar)
    return out


def request(
    bar: Bar,
    side: OrderSide = OrderSide.BUY,
    quantity: str = "10",
    seq: int = 0,
    order_type: OrderType = OrderType.MARKET,
    limit_price: str | None = None,
    strategy: str = "ridgeline",
) -> OrderRequest:
    """An order request made at ``bar`` (its event time is the bar's)."""
    return OrderRequest(
        event_time=bar.event_time, trace_id=f"req@{bar.event_time.isoformat()}#{seq}",
        client_order_id=client_order_id(strategy, bar.symbol, bar.event_time, seq), strategy_id=strategy,
        symbol=bar.symbol, side=side, quantity=Decimal(quantity), order_type=order_type,
        limit_price=None if limit_price is None else Decimal(limit_price),
        target_position=Decimal(quantity) if side is OrderSide.BUY else -Decimal(quantity),
        reference_price=Decimal(repr(bar.close)).quantize(Decimal("1e-12")), intent_seq=seq, horizon="5m",
        reason="test",
    )  # fmt: skip


def settings(redis_url: str, **executor: Any) -> ExecutorSettings:
    return ExecutorSettings(redis_url=redis_url, mode="paper", executor=ExecutorConfig(**executor))


class Harness:
    def __init__(self, service: ExecutorService, client: redis_lib.Redis) -> None:
        self.service = service
        self.client = client
        self.keys = service.keys

    def start(self) -> ExecutorService:
        state = self.client.hget(self.keys.snapshot(self.service.name), "state")
        self.service.restore(state if isinstance(state, bytes) else None)
        self.service.on_start(self.client)
        return self.service

    def tick(self, t: datetime, inputs: list[Message] = (), bars: list[Bar] = ()) -> list[Execution]:  # type: ignore[assignment]
        """Tick ``t`` in the worker's order (the bars, then the requests and commands made at
        ``t``), committed with its watermark."""
        out = Outbox()
        for bar in bars:
            self.service.on_message(Stream.BARS, bar, out)
        for message in inputs:
            self.service.on_message(Stream.ORDERS, message, out)
        self.service.on_tick_end(t, out)
        out.emit(
            Stream.EXECUTIONS, Watermark(event_time=t, trace_id=f"wm@{t.isoformat()}", producer="executor")
        )
        return self.commit(out)

    def only_bars(self, bars: list[Bar]) -> None:
        """A tick cut short after its bars were matched (a crash follows, before anything is
        committed)."""
        assert self.service.engine is not None
        self.service.engine.on_bars(bars)

    def idle(self) -> list[Execution]:
        out = Outbox()
        self.service.on_idle(out)
        return self.commit(out)

    def command(self, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        out = Outbox()
        result = self.service.apply_command(name, payload or {}, out)
        self.commit(out)
        return result

    def commit(self, out: Outbox) -> list[Execution]:
        pipe = self.client.pipeline(transaction=True)
        for stream, message in out.messages:
            pipe.xadd(self.keys.stream(stream), codec.encode(message))  # type: ignore[arg-type]
        for op in out.ops:
            op(pipe)
        pipe.hset(self.keys.snapshot(self.service.name), "state", self.service.snapshot())
        pipe.execute()
        return [m for _, m in out.messages if isinstance(m, Execution)]


def executions(client: redis_lib.Redis, prefix: str = "ridgeline") -> list[Execution]:
    from ridgeline_shared.keys import Keys

    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(Keys(prefix).stream(Stream.EXECUTIONS))  # type: ignore[assignment]
    decoded = [m for _, fields in entries for m in codec.messages_of(Stream.EXECUTIONS, fields)]
    return [m for m in decoded if isinstance(m, Execution)]


class Crash(BaseException):
    """Stands for the process dying: nothing catches it, so the tick is never committed."""


class FlakyBroker(Broker):
    """A broker whose connection can be cut: every call raises BrokerUnavailableError while down;
    ``cut_at_lookup`` cuts it when the venue is asked about that client id (mid-tick, after the
    bars and the poll). ``crash_before_submit`` kills the handler after the write-ahead, before
    the venue hears."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.down = False
        self.cut_at_lookup = ""
        self.crash_before_submit = False
        self.submissions = 0

    def _check(self) -> None:
        if self.down:
            raise BrokerUnavailableError(f"{self.venue}: connection lost")

    def submit(self, spec: OrderSpec) -> BrokerOrder:
        if self.crash_before_submit:
            raise Crash
        self._check()
        self.submissions += 1
        return self.inner.submit(spec)

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        self._check()
        return self.inner.cancel(client_order_id)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        if client_order_id == self.cut_at_lookup:
            self.down = True
        self._check()
        return self.inner.get_order(client_order_id)

    def open_orders(self) -> list[BrokerOrder]:
        self._check()
        return self.inner.open_orders()

    def positions(self) -> list[BrokerPosition]:
        self._check()
        return self.inner.positions()

    def account(self) -> BrokerAccount:
        self._check()
        return self.inner.account()

    def on_bar(self, bar: Bar) -> None:
        self._check()
        self.inner.on_bar(bar)
