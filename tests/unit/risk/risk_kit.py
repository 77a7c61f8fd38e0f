"""Test kit for the risk service: real bars, signals built on them, a paper venue that fills risk's
orders at the next bar's open (as the executor does), and a driver that feeds ticks to a
RiskService in the worker's order (lag-1 executions, then bars, then signals, then tick end)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline

from ridgeline_risk.config import RiskConfig, RiskSettings
from ridgeline_risk.service import RiskService
from ridgeline_shared import ids
from ridgeline_shared.accounting import to_decimal
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import (
    Bar,
    Decision,
    Execution,
    ExecutorCommand,
    ExecutorCommandKind,
    Fill,
    Message,
    OrderRequest,
    OrderStatus,
    OrderType,
    RiskEvent,
    Signal,
)
from ridgeline_shared.runtime.service import Outbox
from tests.support.bars import real_bars


def bars_of(symbol: str, start: int, count: int) -> list[Bar]:
    """``count`` real bars of ``symbol`` from row ``start`` of the bundled data."""
    return list(real_bars(symbol, start + count))[start:]


def aligned_bars(symbols: Iterable[str], start: int, count: int) -> list[list[Bar]]:
    """Ticks of bars of every symbol, sorted by symbol, at the close times all of them share
    (some files have gaps), from row ``start`` of each file."""
    by_symbol = {s: {b.event_time: b for b in bars_of(s, start, count + 60)} for s in sorted(symbols)}
    common = sorted(set.intersection(*(set(bars) for bars in by_symbol.values())))[:count]
    return [[by_symbol[s][t] for s in sorted(by_symbol)] for t in common]


def signal_for(
    bar: Bar,
    decision: Decision = Decision.BUY,
    *,
    alpha_bps: float = 30.0,
    sigma_bps: float = 10.0,
    alpha_5m_bps: float | None = None,
    p_peak: float | None = 0.1,
    p_valley: float | None = 0.5,
    spread_bps: float = 2.0,
    price: float | None = None,
    symbol: str | None = None,
) -> Signal:
    return Signal(
        event_time=bar.event_time,
        trace_id=f"sig-{bar.symbol}-{bar.event_time.isoformat()}",
        symbol=symbol or bar.symbol,
        interval=bar.interval,
        price=price or bar.close,
        horizons=[],
        decision=decision,
        chosen_horizon="5m",
        alpha_bps=alpha_bps,
        expected_net_bps=alpha_bps,
        confidence=0.5,
        alpha_5m_bps=alpha_bps if alpha_5m_bps is None else alpha_5m_bps,
        p_peak=p_peak,
        p_valley=p_valley,
        spread_bps=spread_bps,
        sigma_bps=sigma_bps,
    )


def make_service(prefix: str = "ridgeline", market: MarketConfig | None = None, **risk: Any) -> RiskService:
    """A RiskService with ``risk`` overriding RiskConfig fields (``limits`` as a dict) and the
    shared ``market`` section (spreads) if given."""
    return RiskService(
        RiskSettings(prefix=prefix, market=market or MarketConfig(), risk=RiskConfig.model_validate(risk))
    )


@dataclass
class PaperVenue:
    """What the executor does in paper mode: reads risk's orders one tick late, in stream order;
    a CANCEL_ALL cancels the orders queued before it; the rest fill at the open of the next bar
    of their symbol. Executions are reported at that bar's time (risk reads them a tick later)."""

    strategy_id: str = "ridgeline"
    commission: Decimal = Decimal(0)
    working: list[OrderRequest] = field(default_factory=list)
    cancelled: list[OrderRequest] = field(default_factory=list)
    fills: int = 0

    def take(self, messages: Iterable[Message]) -> None:
        for message in messages:
            if isinstance(message, OrderRequest):
                self.working.append(message)
            elif isinstance(message, ExecutorCommand) and message.command is ExecutorCommandKind.CANCEL_ALL:
                self.cancelled += self.working
                self.working = []

    def fill(self, bars: Iterable[Bar]) -> list[Execution]:
        bars = list(bars)
        now = bars[0].event_time
        by_symbol = {b.symbol: b for b in bars}
        out = [self._execution(o, now, OrderStatus.CANCELED, None) for o in self.cancelled]
        self.cancelled, keep = [], []
        for order in self.working:
            bar = by_symbol.get(order.symbol)
            if bar is None or bar.event_time <= order.event_time:
                keep.append(order)
                continue
            self.fills += 1
            price = to_decimal(bar.open).quantize(Decimal("1e-12"))
            out.append(self._execution(order, now, OrderStatus.FILLED, price))
        self.working = keep
        return out

    def _execution(
        self, order: OrderRequest, now: datetime, status: OrderStatus, price: Decimal | None
    ) -> Execution:
        fill = None
        if price is not None:
            fill = Fill(
                trade_id=ids.trade_id("paper", order.client_order_id, 0),
                quantity=order.quantity,
                price=price,
                commission=self.commission,
            )
        return Execution(
            event_time=now,
            trace_id=order.trace_id,
            client_order_id=order.client_order_id,
            strategy_id=order.strategy_id,
            symbol=order.symbol,
            side=order.side,
            order_type=OrderType.MARKET,
            status=status,
            quantity=order.quantity,
            filled_quantity=order.quantity if fill else Decimal(0),
            avg_fill_price=price,
            fill=fill,
            order_event_time=order.event_time,
            sequence=1,
        )


class RecordingPipe:
    """Stands in for the worker's MULTI/EXEC pipeline in unit tests: keeps what the queued
    ``SET`` ops wrote (and serves ``get`` for ``on_start``); the integration tests use Redis."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def set(self, key: str, value: str | bytes) -> None:
        self.data[key] = value.encode() if isinstance(value, str) else value

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def apply(self, out: Outbox) -> None:
        for op in out.ops:
            op(cast(Pipeline, self))


def start(service: RiskService, store: RecordingPipe) -> None:
    """``on_start`` against the recorded keys, as if they were Redis."""
    service.on_start(cast(Redis, store))


@dataclass
class Tick:
    """One tick's inputs as the worker would deliver them to risk."""

    event_time: datetime
    executions: list[Execution]
    bars: list[Bar]
    signals: list[Signal]


def run_tick(service: RiskService, tick: Tick, out: Outbox | None = None) -> list[Message]:
    out = Outbox() if out is None else out
    for execution in tick.executions:
        service.on_message(Stream.EXECUTIONS, execution, out)
    for bar in sorted(tick.bars, key=lambda b: b.symbol):
        service.on_message(Stream.BARS, bar, out)
    for signal in sorted(tick.signals, key=lambda s: s.symbol):
        service.on_message(Stream.SIGNALS, signal, out)
    service.on_tick_end(tick.event_time, out)
    return [m for _, m in out.messages]


@dataclass
class Replay:
    """Risk plus a paper venue over aligned real bars; records every tick's inputs and outputs."""

    service: RiskService
    venue: PaperVenue = field(default_factory=PaperVenue)
    ticks: list[Tick] = field(default_factory=list)
    outputs: list[list[Message]] = field(default_factory=list)
    store: RecordingPipe = field(default_factory=RecordingPipe)
    _pending: list[Execution] = field(default_factory=list)

    def step(self, bars: list[Bar], signals: list[Signal]) -> list[Message]:
        # The venue's executions of the previous tick reach risk now (lag 1), then this tick's
        # bars fill the orders risk sent before.
        tick = Tick(bars[0].event_time, self._pending, bars, signals)
        self._pending = self.venue.fill(bars)
        out = Outbox()
        produced = run_tick(self.service, tick, out)
        self.store.apply(out)
        self.venue.take(produced)
        self.ticks.append(tick)
        self.outputs.append(produced)
        return produced

    def command(self, name: str, payload: dict[str, Any]) -> tuple[dict[str, Any], list[Message]]:
        out = Outbox()
        result = self.service.apply_command(name, payload, out)
        self.store.apply(out)
        produced = [m for _, m in out.messages]
        self.venue.take(produced)
        if self.outputs:
            self.outputs[-1] = self.outputs[-1] + produced
        return result, produced


def orders(messages: Iterable[Message]) -> list[OrderRequest]:
    return [m for m in messages if isinstance(m, OrderRequest)]


def events(messages: Iterable[Message]) -> list[RiskEvent]:
    return [m for m in messages if isinstance(m, RiskEvent)]


def commands(messages: Iterable[Message]) -> list[ExecutorCommand]:
    return [m for m in messages if isinstance(m, ExecutorCommand)]
