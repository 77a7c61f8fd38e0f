"""A scripted session of the executor on real bars, and a driver for a service started without
Redis, so the in-memory backend and the Redis one can be fed exactly the same inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ridgeline_executor.config import ExecutorConfig, ExecutorSettings
from ridgeline_executor.engine import Executor
from ridgeline_executor.service import ExecutorService
from ridgeline_shared.ids import client_order_id
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Execution, ExecutorCommand, Message, OrderRequest
from ridgeline_shared.messages.enums import ExecutorCommandKind, OrderSide, OrderType, TimeInForce
from ridgeline_shared.runtime.service import Outbox
from tests.support.bars import real_bars

D = Decimal
SYMBOLS = ("ETHBTC", "LTCBTC")


def settings(redis_url: str = "redis://unused:6379/0", **executor: Any) -> ExecutorSettings:
    return ExecutorSettings(redis_url=redis_url, mode="paper", executor=ExecutorConfig(**executor))


def request(
    bar: Bar,
    side: OrderSide,
    quantity: str,
    seq: int = 0,
    order_type: OrderType = OrderType.MARKET,
    limit_price: Decimal | None = None,
    tif: TimeInForce = TimeInForce.GTC,
) -> OrderRequest:
    """An order request made at ``bar`` (its event time is the bar's)."""
    return OrderRequest(
        event_time=bar.event_time, trace_id=f"req@{bar.symbol}@{bar.event_time.isoformat()}#{seq}",
        client_order_id=client_order_id("ridgeline", bar.symbol, bar.event_time, seq),
        strategy_id="ridgeline", symbol=bar.symbol, side=side, quantity=D(quantity), order_type=order_type,
        limit_price=limit_price, time_in_force=tif,
        target_position=D(quantity) if side is OrderSide.BUY else -D(quantity),
        reference_price=D(repr(bar.close)).quantize(D("1e-12")), intent_seq=seq, horizon="5m", reason="test",
    )  # fmt: skip


def command(bar: Bar, kind: ExecutorCommandKind, n: int) -> ExecutorCommand:
    return ExecutorCommand(
        event_time=bar.event_time, trace_id=f"cmd-{n}", command_id=f"C-{n}", command=kind, reason=f"test {n}"
    )


def limit_at(bar: Bar, factor: str) -> Decimal:
    return (D(repr(bar.close)) * D(factor)).quantize(D("1e-8"))


def aligned_bars(ticks: int, symbols: Sequence[str] = SYMBOLS) -> list[list[Bar]]:
    """Real bars of ``symbols`` grouped by close time (one bar per symbol per tick)."""
    series = [list(real_bars(s, ticks)) for s in symbols]
    groups = [list(group) for group in zip(*series, strict=True)]
    assert all(len({b.event_time for b in g}) == 1 for g in groups)
    return groups


@dataclass(slots=True)
class Step:
    """Tick ``t``: its ``bars``, then ``inputs`` (the order requests and risk commands made at
    ``t``); then, between ticks, an operator command if any."""

    t: datetime
    inputs: list[Message]
    bars: list[Bar]
    operator: tuple[str, dict[str, Any]] | None = None


@dataclass(slots=True)
class Session:
    steps: list[Step] = field(default_factory=list)
    requests: dict[str, OrderRequest] = field(default_factory=dict)


def scripted_session(ticks: int = 300) -> Session:
    """Market and limit orders (GTC, IOC, DAY) on both symbols, partial fills (with
    ``max_participation``), a buy beyond the cash, redeliveries, risk's cancel-all and flatten,
    and the operator's. 300 five-minute ticks from 04:55 cross a UTC midnight (DAY expiry)."""
    groups = aligned_bars(ticks)
    session = Session()
    for i, bars in enumerate(groups):
        step = Step(bars[0].event_time, [], bars)
        made = step.inputs
        eth, ltc = bars
        if i % 3 == 0:
            made.append(request(eth, OrderSide.BUY, str(5 + i % 7)))
        if i % 4 == 1:
            made.append(request(ltc, OrderSide.SELL if i % 8 == 1 else OrderSide.BUY, "40", seq=1))
        if i % 5 == 2:
            made.append(request(eth, OrderSide.BUY, "12", 2, OrderType.LIMIT, limit_at(eth, "0.999")))
        if i % 7 == 3:
            limit = limit_at(ltc, "1.0005")
            made.append(request(ltc, OrderSide.SELL, "30", 3, OrderType.LIMIT, limit, TimeInForce.IOC))
        if i % 11 == 4:
            limit = limit_at(eth, "0.99")
            made.append(request(eth, OrderSide.BUY, "3", 4, OrderType.LIMIT, limit, TimeInForce.DAY))
        if i % 13 == 6:
            made.append(request(ltc, OrderSide.BUY, "900", 5))  # partial fills at 5% of volume
        if i == 10:
            made.append(request(eth, OrderSide.BUY, "5000", 6))  # ~500 BTC of 100: rejected
        if i in (60, 150):
            made.append(command(eth, ExecutorCommandKind.CANCEL_ALL, i))
        if i in (100, 200):
            made.append(command(eth, ExecutorCommandKind.FLATTEN, i))
        if i % 17 == 9 and session.requests:
            # A redelivery of a request of an earlier tick (this tick's are not in yet).
            made.append(session.requests[sorted(session.requests)[i % len(session.requests)]])
        for message in made:
            if isinstance(message, OrderRequest):
                session.requests.setdefault(message.client_order_id, message)
        if i in (40, 120):
            step.operator = ("cancel_all", {"reason": f"operator {i}"})
        if i in (80, 240):
            step.operator = ("flatten", {"reason": f"operator {i}"})
        session.steps.append(step)
    return session


def session_settings(redis_url: str = "redis://unused:6379/0") -> ExecutorSettings:
    return settings(redis_url, paper={"max_participation": "0.05"})


Tick = Callable[[datetime, list[Message], list[Bar]], list[Execution]]
Command = Callable[[str, dict[str, Any]], dict[str, Any]]


def play(session: Session, tick: Tick, operator: Command) -> list[Execution]:
    out: list[Execution] = []
    for step in session.steps:
        out.extend(tick(step.t, step.inputs, step.bars))
        if step.operator is not None:
            operator(*step.operator)
    return out


def comparable(executions: Sequence[Execution]) -> list[dict[str, Any]]:
    return [e.model_dump(exclude={"trace"}) for e in executions]


class MemoryDriver:
    """Drives an ExecutorService started with ``redis=None`` as the in-process pipeline does."""

    def __init__(self, service: ExecutorService) -> None:
        self.service = service
        service.restore(None)
        service.on_start(None)

    def tick(self, t: datetime, inputs: Sequence[Message] = (), bars: Sequence[Bar] = ()) -> list[Execution]:
        """Tick ``t`` in the worker's order: the bars, then the requests and commands made at ``t``."""
        out = Outbox()
        for bar in bars:
            self.service.on_message(Stream.BARS, bar, out)
        for message in inputs:
            self.service.on_message(Stream.ORDERS, message, out)
        self.service.on_tick_end(t, out)
        return self._outputs(out)

    def command(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        out = Outbox()
        result = self.service.apply_command(name, payload, out)
        self._outputs(out)
        return result

    @staticmethod
    def _outputs(out: Outbox) -> list[Execution]:
        assert out.ops == []  # nothing for Redis: the memory log writes at once
        return [m for _, m in out.messages if isinstance(m, Execution)]


class OneByOne(ExecutorService):
    """The executor handling a tick one message at a time (a venue unit of work per bar, one
    lookup, write-ahead and send per request): the reference for the batched service."""

    def _match_bars(self, engine: Executor) -> bool:
        bars, self._bars = self._bars, []
        for bar in bars:
            engine.on_bar(bar)
        return False

    @staticmethod
    def _requests(engine: Executor, requests: list[OrderRequest], tick: datetime | None) -> None:
        for request in requests:
            engine.handle_request(request, tick)
