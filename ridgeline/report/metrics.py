"""MATH.md s.4 metrics of a run, pure: an exact ledger replay of its fills, marked at each bar.

- Equity curve: one point per event-time tick (every bar close, plus any tick that only has
  fills). At tick T the fills published at T are booked first (a paper fill happens at bar T's
  open), then every symbol with a bar at T is marked at its close; equity = cash + positions at
  the last price (``Ledger``, Decimal). Floats appear only in ratios.
- Returns: ``equity_t / equity_{t-1} - 1`` per tick (a tick after a non-positive equity has none).
  Sharpe = mean / std (sample, ddof 1) x sqrt(periods per year); periods per year come from the
  bar interval (``ReportConfig.annualisation``; 24/7 crypto at 5m: 105120).
- Max drawdown: the largest ``(peak - equity) / peak`` over the curve, with the peak, trough and
  recovery ticks (recovery: the first later tick whose equity regains the peak, if any).
- Turnover: traded notional (sum of |quantity| x fill price) / average equity over the curve.
- Hit rate: share of closed round trips whose realised PnL net of commission is positive. A round
  trip of a symbol runs from a flat position to the next flat position; a fill that flips the
  position closes one trip and opens the next, its commission split pro rata by quantity.
- Costs paid: commissions plus the estimated spread and impact of each fill: ``(fill price -
  reference) x signed quantity`` with the reference the close of the bar at the order's event time
  (the price the decision saw), else the order request's reference price. It includes the drift
  from that close to the fill bar's open, which is what the delay cost the run. In quote currency
  and in bps of the reference notional.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from ridgeline.report.config import ReportConfig
from ridgeline.report.fills import FillEvent, Fills, extract_fills
from ridgeline.report.run_data import RunData
from ridgeline_shared.accounting import COST_QUANTUM, ZERO, Ledger, to_decimal
from ridgeline_shared.messages import OrderStatus, RiskEventKind

BPS = Decimal(10_000)
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    time: datetime
    equity: Decimal
    cash: Decimal
    # (symbol, quantity) of every symbol traded so far, sorted by symbol.
    positions: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True, slots=True)
class RoundTrip:
    symbol: str
    direction: int
    opened: datetime
    closed: datetime
    realized: Decimal
    commission: Decimal

    @property
    def net(self) -> Decimal:
        return self.realized - self.commission


@dataclass(slots=True)
class _OpenTrip:
    direction: int
    opened: datetime
    realized: Decimal = ZERO
    commission: Decimal = ZERO

    def close(self, symbol: str, at: datetime) -> RoundTrip:
        return RoundTrip(symbol, self.direction, self.opened, at, self.realized, self.commission)


@dataclass(frozen=True, slots=True)
class Replay:
    curve: tuple[EquityPoint, ...]
    ledger: Ledger
    fills: Fills
    round_trips: tuple[RoundTrip, ...]
    open_round_trips: int

    @property
    def marks(self) -> dict[str, Decimal]:
        """Last price of every symbol held or traded: the price of the final equity."""
        return {s: p.last_price for s, p in sorted(self.ledger.positions.items()) if p.last_price is not None}


def _sign(value: Decimal) -> int:
    return 1 if value > 0 else -1


def _book_trip(
    trips: dict[str, _OpenTrip], closed: list[RoundTrip], fill: FillEvent, before: Decimal, realized: Decimal
) -> None:
    qty = fill.signed_qty
    trip = trips.get(fill.symbol)
    if not before or trip is None:
        trips[fill.symbol] = _OpenTrip(_sign(qty), fill.time, commission=fill.commission)
        return
    if (before > 0) == (qty > 0):
        trip.commission += fill.commission
        return
    trip.realized += realized
    if abs(qty) < abs(before):
        trip.commission += fill.commission
        return
    with localcontext(_CTX):
        closing_commission = (fill.commission * abs(before) / abs(qty)).quantize(COST_QUANTUM)
    trip.commission += closing_commission
    closed.append(trip.close(fill.symbol, fill.time))
    del trips[fill.symbol]
    if abs(qty) > abs(before):
        trips[fill.symbol] = _OpenTrip(_sign(qty), fill.time, commission=fill.commission - closing_commission)


def replay(run: RunData, initial_cash: Decimal) -> Replay:
    """Book every fill in execution order and mark at each bar close; see the module docstring."""
    fills = extract_fills(run.executions, run.orders)
    closes: dict[datetime, list[tuple[str, Decimal]]] = {}
    for bar in run.bars:
        closes.setdefault(bar.event_time, []).append((bar.symbol, to_decimal(bar.close)))
    ordered = sorted(fills.events, key=lambda f: f.time)  # stable: stream order within a tick
    ledger = Ledger(cash=initial_cash)
    trips: dict[str, _OpenTrip] = {}
    closed: list[RoundTrip] = []
    curve: list[EquityPoint] = []
    index = 0
    for tick in sorted(set(closes) | {f.time for f in ordered}):
        while index < len(ordered) and ordered[index].time <= tick:
            fill = ordered[index]
            before = ledger.quantity(fill.symbol)
            realized = ledger.apply_fill(fill.symbol, fill.signed_qty, fill.price, fill.commission)
            _book_trip(trips, closed, fill, before, realized)
            index += 1
        for symbol, close in closes.get(tick, ()):
            ledger.mark(symbol, close)
        positions = tuple((s, ledger.positions[s].quantity) for s in sorted(ledger.positions))
        curve.append(EquityPoint(tick, ledger.equity, ledger.cash, positions))
    return Replay(tuple(curve), ledger, fills, tuple(closed), len(trips))


@dataclass(frozen=True, slots=True)
class Drawdown:
    max_drawdown: float
    amount: Decimal
    peak_time: datetime | None
    trough_time: datetime | None
    recovery_time: datetime | None


def drawdown_series(curve: tuple[EquityPoint, ...]) -> list[float]:
    """``(peak - equity) / peak`` at each tick (0 while the peak is not positive)."""
    out: list[float] = []
    peak: Decimal | None = None
    for point in curve:
        peak = point.equity if peak is None else max(peak, point.equity)
        out.append(float((peak - point.equity) / peak) if peak > 0 else 0.0)
    return out


def max_drawdown(curve: tuple[EquityPoint, ...]) -> Drawdown:
    best = Drawdown(0.0, ZERO, None, None, None)
    worst_frac = Decimal(0)
    peak: EquityPoint | None = None
    worst_peak: EquityPoint | None = None
    with localcontext(_CTX):
        for point in curve:
            if peak is None or point.equity > peak.equity:
                peak = point
            if peak.equity <= 0:
                continue
            frac = (peak.equity - point.equity) / peak.equity
            if frac > worst_frac:
                worst_frac, worst_peak = frac, peak
                best = Drawdown(float(frac), peak.equity - point.equity, peak.time, point.time, None)
    if worst_peak is not None and best.trough_time is not None:
        trough = best.trough_time
        recovery = next((p.time for p in curve if p.time > trough and p.equity >= worst_peak.equity), None)
        best = Drawdown(best.max_drawdown, best.amount, best.peak_time, trough, recovery)
    return best


def tick_returns(curve: tuple[EquityPoint, ...]) -> list[tuple[datetime, float]]:
    out: list[tuple[datetime, float]] = []
    with localcontext(_CTX):
        for prev, point in itertools.pairwise(curve):
            if prev.equity > 0:
                out.append((point.time, float(point.equity / prev.equity - 1)))
    return out


def sharpe_ratio(returns: list[float], periods_per_year: float) -> float | None:
    """mean / std (ddof 1) x sqrt(periods per year); None with under 2 returns or no variation."""
    if len(returns) < 2:
        return None
    std = statistics.stdev(returns)
    if std == 0.0:
        return None
    return statistics.fmean(returns) / std * math.sqrt(periods_per_year)


@dataclass(frozen=True, slots=True)
class Costs:
    commissions: Decimal
    slippage: Decimal
    reference_notional: Decimal
    traded_notional: Decimal
    # Fills with no bar at their order's event time and no order request to take a price from.
    without_reference: int

    @property
    def total(self) -> Decimal:
        return self.commissions + self.slippage

    @property
    def slippage_bps(self) -> float | None:
        return float(self.slippage / self.reference_notional * BPS) if self.reference_notional else None

    @property
    def commission_bps(self) -> float | None:
        return float(self.commissions / self.traded_notional * BPS) if self.traded_notional else None

    @property
    def total_bps(self) -> float | None:
        if self.reference_notional and self.traded_notional:
            return (self.slippage_bps or 0.0) + (self.commission_bps or 0.0)
        return None


def costs_paid(run: RunData, fills: Fills) -> Costs:
    closes = {(b.symbol, b.event_time): to_decimal(b.close) for b in run.bars}
    references = {o.client_order_id: o.reference_price for o in run.orders}
    commissions = slippage = reference_notional = traded = ZERO
    missing = 0
    with localcontext(_CTX):
        for fill in fills.events:
            commissions += fill.commission
            traded += fill.notional
            ref = closes.get((fill.symbol, fill.order_event_time)) if fill.order_event_time else None
            if ref is None:
                ref = references.get(fill.client_order_id)
            if ref is None:
                missing += 1
                continue
            slippage += (fill.price - ref) * fill.signed_qty
            reference_notional += ref * abs(fill.signed_qty)
    return Costs(commissions, slippage, reference_notional, traded, missing)


@dataclass(frozen=True, slots=True)
class PositionSummary:
    quantity: Decimal
    avg_price: Decimal | None
    last_price: Decimal | None
    market_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class StateChange:
    time: datetime
    state: str
    actor: str
    detail: str


@dataclass(frozen=True, slots=True)
class Metrics:
    finished: bool
    start: datetime | None
    end: datetime | None
    ticks: int
    interval: str
    periods_per_year: float
    initial_cash: Decimal
    final_equity: Decimal
    total_pnl: Decimal
    total_return: float
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    sharpe: float | None
    mean_return: float | None
    volatility_annualised: float | None
    drawdown: Drawdown
    traded_notional: Decimal
    average_equity: Decimal
    turnover: float
    round_trips_closed: int
    round_trips_won: int
    round_trips_open: int
    hit_rate: float | None
    costs: Costs
    orders: int
    executor_commands: int
    fills: int
    duplicate_fills: int
    orders_by_status: dict[str, int]
    signals: int
    signals_by_decision: dict[str, int]
    denials: int
    denials_by_reason: dict[str, int]
    guardrail_breaches: int
    state_changes: tuple[StateChange, ...]
    final_trading_state: str | None
    final_positions: dict[str, PositionSummary]
    undecodable: int
    returns: tuple[tuple[datetime, float], ...] = field(default=(), repr=False)


def _interval(run: RunData, config: ReportConfig) -> str:
    intervals = sorted({b.interval for b in run.bars})
    if len(intervals) > 1:
        raise ValueError(f"bars of several intervals in one run: {intervals}")
    return intervals[0] if intervals else config.interval


def _final_statuses(run: RunData) -> dict[str, int]:
    last: dict[str, tuple[int, OrderStatus]] = {}
    for execution in run.executions:
        seen = last.get(execution.client_order_id)
        if seen is None or execution.sequence >= seen[0]:
            last[execution.client_order_id] = (execution.sequence, execution.status)
    return dict(sorted(Counter(status.value for _, status in last.values()).items()))


def compute_metrics(run: RunData, config: ReportConfig | None = None, done: Replay | None = None) -> Metrics:
    """Every MATH.md s.4 figure of ``run``; pass ``done`` to reuse a replay already made."""
    config = config or ReportConfig()
    done = done or replay(run, config.initial_cash)
    curve = done.curve
    interval = _interval(run, config)
    ppy = config.annualisation(interval)
    ledger = done.ledger
    final_equity = curve[-1].equity if curve else config.initial_cash
    returns = tick_returns(curve)
    values = [r for _, r in returns]
    sharpe = sharpe_ratio(values, ppy)
    costs = costs_paid(run, done.fills)
    with localcontext(_CTX):
        average_equity = sum((p.equity for p in curve), ZERO) / len(curve) if curve else config.initial_cash
        turnover = float(costs.traded_notional / average_equity) if average_equity > 0 else 0.0
        total_pnl = final_equity - config.initial_cash
        total_return = float(final_equity / config.initial_cash - 1)
    won = sum(1 for t in done.round_trips if t.net > 0)
    closed = len(done.round_trips)
    denial_events = [e for e in run.risk_events if e.kind is RiskEventKind.DENIAL]
    denials = Counter((e.reason_code.value if e.reason_code else "UNSPECIFIED") for e in denial_events)
    changes = tuple(
        StateChange(e.event_time, e.trading_state.value, e.actor, e.detail)
        for e in run.risk_events
        if e.kind is RiskEventKind.STATE_CHANGE
    )
    positions = {
        s: PositionSummary(
            p.quantity, p.avg_price, p.last_price, p.market_value, p.unrealized_pnl, p.realized_pnl
        )
        for s, p in sorted(ledger.positions.items())
    }
    return Metrics(
        finished=run.finished,
        start=curve[0].time if curve else None,
        end=curve[-1].time if curve else None,
        ticks=len(curve),
        interval=interval,
        periods_per_year=ppy,
        initial_cash=config.initial_cash,
        final_equity=final_equity,
        total_pnl=total_pnl,
        total_return=total_return,
        realized_pnl=ledger.realized_pnl,
        unrealized_pnl=ledger.unrealized_pnl,
        sharpe=sharpe,
        mean_return=statistics.fmean(values) if values else None,
        volatility_annualised=statistics.stdev(values) * math.sqrt(ppy) if len(values) > 1 else None,
        drawdown=max_drawdown(curve),
        traded_notional=costs.traded_notional,
        average_equity=average_equity,
        turnover=turnover,
        round_trips_closed=closed,
        round_trips_won=won,
        round_trips_open=done.open_round_trips,
        hit_rate=won / closed if closed else None,
        costs=costs,
        orders=len({o.client_order_id for o in run.orders}),
        executor_commands=len(run.commands),
        fills=len(done.fills.events),
        duplicate_fills=done.fills.duplicates,
        orders_by_status=_final_statuses(run),
        signals=len(run.signals),
        signals_by_decision=dict(sorted(Counter(s.decision.value for s in run.signals).items())),
        denials=len(denial_events),
        denials_by_reason=dict(sorted(denials.items())),
        guardrail_breaches=sum(1 for e in run.risk_events if e.kind is RiskEventKind.GUARDRAIL_BREACH),
        state_changes=changes,
        final_trading_state=run.risk_events[-1].trading_state.value if run.risk_events else None,
        final_positions=positions,
        undecodable=run.undecodable,
        returns=tuple(returns),
    )
