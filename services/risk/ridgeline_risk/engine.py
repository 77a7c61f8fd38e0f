"""The risk core: a deterministic state machine from (bars, signals, executions, commands) to
order requests, executor commands and risk events. No I/O; the adapter in :mod:`.service` feeds
it and writes what it returns.

One tick at event time T (``end_tick``):
1. the equity, marked to the last bars, updates the session's start-of-day value and the peak;
2. a daily-loss or drawdown breach moves ACTIVE/REDUCING to HALTED: CANCEL_ALL, and with
   ``on_halt = "flatten"`` an order closing every holding. While HALTED and flattening, a symbol
   still held once all its orders are settled (no working order left) gets a new closing order,
   so a rejected or partial flatten is retried without ever stacking two;
3. every signal of the tick gives a target weight (:mod:`.targets`); the weights of all symbols,
   together with the current weights of holdings without a signal this tick, are scaled to the
   gross target, then the no-trade band applies; only symbols with a signal trade, the others
   keep their holding until their next signal;
4. each order (target shares minus position and working orders) passes the pre-trade checks,
   reducing orders first, so an order that frees gross exposure is counted before one using it;
   orders are emitted sorted by symbol, each denial becomes a RiskEvent.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from ridgeline_risk import outgoing
from ridgeline_risk.config import LimitsUpdate, RiskConfig, RiskLimits
from ridgeline_risk.gross import GrossBatch
from ridgeline_risk.guardrails import Guardrails
from ridgeline_risk.portfolio import Portfolio
from ridgeline_risk.pretrade import Candidate, Denial, PreTradeChecker
from ridgeline_risk.sizing import fraction, gross_scale, round_price, target_shares
from ridgeline_risk.targets import Intent, SignalView, decide, settle
from ridgeline_risk.views import Capture
from ridgeline_shared import ids
from ridgeline_shared.accounting import to_decimal
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.intervals import minutes_to_bars
from ridgeline_shared.keys import Stream
from ridgeline_shared.market import MarketStats
from ridgeline_shared.messages import (
    Bar,
    Decision,
    DenialReason,
    Execution,
    ExecutorCommand,
    ExecutorCommandKind,
    Message,
    OrderRequest,
    OrderSide,
    RiskEventKind,
    Signal,
    TradingState,
)

# Event time of what a command emits before any tick was processed (deterministic, and before
# every real event time).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Emitted = tuple[Stream, Message]


# Named tuples, not frozen dataclasses, for the values made per symbol and tick: as immutable,
# and three times cheaper to build.
class _BarInfo(NamedTuple):
    event_time: datetime
    age_ms: float  # received_at - event_time


class _Order(NamedTuple):
    candidate: Candidate
    target: Decimal
    price: Decimal
    trace_id: str
    horizon: str | None
    reason: str
    intent_seq: int
    # The signal's per-hop publish times, carried on so latency is measured bar to order (the
    # order's own copy).
    trace: dict[str, int]


def _ratio(numerator: Decimal, denominator: Decimal) -> float:
    return fraction(numerator, denominator) if denominator > 0 else 0.0


class RiskEngine:
    def __init__(
        self,
        config: RiskConfig,
        *,
        strategy_id: str,
        interval: str = "5m",
        session_minutes: int = 1440,
        market: MarketConfig | None = None,
    ) -> None:
        self.config = config
        # The shared market section: the spread and sigma the blender costed and the venue charges.
        self.market = market if market is not None else MarketConfig()
        self.strategy_id = strategy_id
        self.interval = interval
        self.session_minutes = session_minutes
        self.session_bars = minutes_to_bars("1d", interval, session_minutes)
        # sqrt(bars in the horizon), by horizon: configuration only.
        self._root_bars: dict[str, float] = {}
        self.reset_state()

    def reset_state(self) -> None:
        cfg = self.config
        self.state = TradingState.ACTIVE
        # HALTED with the order to close every holding (until a reset).
        self.flattening = False
        self.limits: RiskLimits = cfg.limits
        self.portfolio = Portfolio(cfg.initial_cash, self.strategy_id, cfg.dedupe_window)
        self.guard = Guardrails.initial(cfg.initial_cash)
        self.checker = PreTradeChecker(cfg.dedupe_window)
        self.stats: dict[str, MarketStats] = {}
        self.bars: dict[str, _BarInfo] = {}
        self.barrier: dict[str, tuple[float | None, float | None]] = {}
        self.signals: dict[str, Signal] = {}
        self.last_tick: datetime | None = None
        self.intent_seq: dict[str, int] = {}
        self.command_seq = 0
        self.denials: dict[str, int] = {}
        self.counters = {"signals": 0, "orders": 0, "fills": 0, "halts": 0}

    # -- inputs ----------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        previous = self.bars.get(bar.symbol)
        if previous is not None and bar.event_time <= previous.event_time:
            return  # a repeated or late bar must not enter the volatility window twice
        stats = self.stats.get(bar.symbol)
        if stats is None:
            stats = self.stats[bar.symbol] = self.market.new_stats(self.session_bars)
        stats.update(bar.high, bar.low, bar.close, bar.volume)
        age = (bar.received_at - bar.event_time).total_seconds() * 1000.0
        self.bars[bar.symbol] = _BarInfo(bar.event_time, age)
        self.portfolio.mark(bar.symbol, to_decimal(bar.close))

    def on_signal(self, signal: Signal) -> None:
        """Signals are sized together at the end of the tick; a later one of a symbol replaces."""
        self.signals[signal.symbol] = signal
        self.counters["signals"] += 1

    def on_execution(self, execution: Execution) -> None:
        if self.portfolio.apply_execution(execution):
            self.counters["fills"] += 1

    # -- the tick --------------------------------------------------------------------------
    def end_tick(self, event_time: datetime) -> list[Emitted]:
        self._advance(event_time)
        out: list[Emitted] = []
        self.guard.update(event_time, self.portfolio.equity, self.config.session_start_minutes)
        breaches = self.guard.breaches(self.limits)
        if breaches and self.state is not TradingState.HALTED:
            trace = f"risk-{event_time.isoformat()}"
            for breach in breaches:
                out.append(
                    self._event(
                        RiskEventKind.GUARDRAIL_BREACH,
                        trace,
                        detail=f"{breach.guardrail} {breach.value:.4%} > limit {breach.limit:.4%}",
                        data={"guardrail": breach.guardrail, "value": breach.value, "limit": breach.limit},
                    )
                )
            reason = "guardrail: " + ", ".join(b.guardrail for b in breaches)
            out += self._halt(reason, "risk", self.config.on_halt == "flatten")
        elif self.state is TradingState.HALTED and self.flattening:
            out += self._flatten_orders(event_time, f"risk-{event_time.isoformat()}", initial=False)
        out += self._size(event_time)
        self.signals.clear()
        return out

    def _advance(self, event_time: datetime) -> None:
        if event_time != self.last_tick:
            self.intent_seq.clear()
            self.command_seq = 0
        self.last_tick = event_time

    @property
    def command_time(self) -> datetime:
        """Event time of messages emitted between ticks: the last tick processed."""
        return self.last_tick or EPOCH

    def _next_intent(self, symbol: str) -> int:
        seq = self.intent_seq.get(symbol, 0)
        self.intent_seq[symbol] = seq + 1
        return seq

    def _size(self, event_time: datetime) -> list[Emitted]:
        cfg, portfolio = self.config, self.portfolio
        value = portfolio.equity
        if not self.signals or value <= 0:
            return []  # nothing to size; a non-positive equity has breached the guardrails
        orders: list[_Order] = []
        intents: dict[str, tuple[Intent, Decimal, Decimal, float]] = {}
        weights: dict[str, float] = {}
        for symbol in sorted(self.signals):
            signal = self.signals[symbol]
            price = portfolio.last_price.get(symbol)
            current = portfolio.effective_quantity(symbol)
            if price is None:
                if signal.decision is not Decision.HOLD:
                    orders.append(self._no_price_order(signal, current, event_time))
                continue
            weight = _ratio(current * price, value)
            intent = decide(self._view(signal, event_time), weight, cfg)
            self.barrier[symbol] = (signal.p_peak, signal.p_valley)
            intents[symbol] = (intent, price, current, weight)
            weights[symbol] = intent.weight
        for symbol, quantity in portfolio.effective_book().items():
            price = portfolio.last_price.get(symbol)
            if symbol not in weights and price is not None:
                weights[symbol] = _ratio(quantity * price, value)
        scale = gross_scale(weights, cfg.gross_target)
        for symbol, (raw, price, current, weight) in intents.items():
            intent = settle(raw, weight, scale, cfg)
            if intent.keep:
                continue
            target = target_shares(intent.weight, value, price, cfg.lot(symbol))
            if target == current:
                continue
            signal = self.signals[symbol]
            reason = intent.reason
            seq = self._next_intent(symbol)
            coid = ids.client_order_id(self.strategy_id, symbol, event_time, seq)
            candidate = Candidate(coid, symbol, target - current, current, price, to_decimal(signal.price))
            orders.append(
                _Order(
                    candidate,
                    target,
                    price,
                    signal.trace_id,
                    signal.chosen_horizon,
                    reason,
                    seq,
                    dict(signal.trace),
                )
            )
        return self._check_and_emit(orders, event_time)

    def _view(self, signal: Signal, event_time: datetime) -> SignalView:
        symbol = signal.symbol
        stats = self.stats.get(symbol)
        bar = self.bars.get(symbol)
        age = (
            float("inf") if bar is None else (event_time - bar.event_time).total_seconds() * 1e3 + bar.age_ms
        )
        # Risk's own spread, not the signal's: both come from the same config and bars (no max).
        spread = self.spread_bps(symbol)
        sigma = signal.sigma_bps
        if stats is not None and sigma <= 0.0 and signal.chosen_horizon is not None:
            sigma = self._horizon_sigma(stats, signal.chosen_horizon) or 0.0
        previous_peak, previous_valley = self.barrier.get(symbol, (None, None))
        return SignalView(
            decision=signal.decision,
            alpha_bps=signal.alpha_bps,
            sigma_bps=sigma,
            alpha_5m_bps=signal.alpha_5m_bps,
            p_peak=signal.p_peak,
            p_valley=signal.p_valley,
            spread_bps=spread,
            data_age_ms=age,
            previous_p_peak=previous_peak,
            previous_p_valley=previous_valley,
        )

    def spread_bps(self, symbol: str) -> float:
        """The spread the gate compares with ``max_spread_bps``: the shared market section's,
        from the bars risk has seen, the same figure the blender costed and the venue charges."""
        return self.market.spread_for(symbol, self.stats.get(symbol))

    def _horizon_sigma(self, stats: MarketStats, horizon: str) -> float | None:
        root = self._root_bars.get(horizon, 0.0)
        if root == 0.0:
            try:
                root = self._root_bars[horizon] = math.sqrt(
                    minutes_to_bars(horizon, self.interval, self.session_minutes)
                )
            except ValueError:
                return None
        sigma = self.market.sigma_bps(stats)
        return None if sigma is None else sigma * root

    def _no_price_order(self, signal: Signal, current: Decimal, event_time: datetime) -> _Order:
        """A trade signal for a symbol risk has no bar of: it cannot be sized, only denied."""
        seq = self._next_intent(signal.symbol)
        coid = ids.client_order_id(self.strategy_id, signal.symbol, event_time, seq)
        candidate = Candidate(coid, signal.symbol, Decimal(0), current, None, to_decimal(signal.price))
        return _Order(
            candidate,
            current,
            Decimal(0),
            signal.trace_id,
            signal.chosen_horizon,
            "signal",
            seq,
            dict(signal.trace),
        )

    def _check_and_emit(self, orders: list[_Order], event_time: datetime) -> list[Emitted]:
        portfolio = self.portfolio
        # Sending orders changes neither the ledger nor the prices: one equity for the batch.
        value = portfolio.equity
        gross = GrossBatch(portfolio)
        # Orders that do not add exposure first, so they free room for the ones that do.
        ranked = sorted(
            orders,
            key=lambda o: (
                abs(o.candidate.current + o.candidate.quantity) > abs(o.candidate.current),
                o.candidate.symbol,
                o.candidate.client_order_id,
            ),
        )
        sent: list[tuple[str, str, Emitted]] = []
        denied: list[tuple[str, str, Emitted]] = []
        for order in ranked:
            c = order.candidate
            denial = self.checker.check(
                c,
                state=self.state,
                limits=self.limits,
                gross=gross.excluding,
                portfolio_value=value,
                event_time=event_time,
            )
            if denial is not None:
                denied.append((c.symbol, c.client_order_id, self._denial(order, denial)))
                continue
            request = self._request(order, event_time)
            self.checker.sent(event_time)
            gross.order_sent(c.client_order_id, c.symbol, c.quantity, event_time)
            self.counters["orders"] += 1
            sent.append((c.symbol, c.client_order_id, (Stream.ORDERS, request)))
        return [e for _, _, e in sorted(sent, key=lambda x: x[:2])] + [
            e for _, _, e in sorted(denied, key=lambda x: x[:2])
        ]

    def _request(self, order: _Order, event_time: datetime) -> OrderRequest:
        c = order.candidate
        return outgoing.order_request(
            event_time=event_time,
            trace_id=order.trace_id,
            trace=order.trace,
            client_order_id=c.client_order_id,
            strategy_id=self.strategy_id,
            symbol=c.symbol,
            side=OrderSide.BUY if c.quantity > 0 else OrderSide.SELL,
            quantity=abs(c.quantity),
            target_position=order.target,
            reference_price=round_price(order.price, self.config.tick(c.symbol)),
            intent_seq=order.intent_seq,
            horizon=order.horizon,
            reason=order.reason,
        )

    def _denial(self, order: _Order, denial: Denial) -> Emitted:
        c = order.candidate
        self.denials[denial.reason.value] = self.denials.get(denial.reason.value, 0) + 1
        return self._event(
            RiskEventKind.DENIAL,
            order.trace_id,
            reason_code=denial.reason,
            client_order_id=c.client_order_id,
            symbol=c.symbol,
            detail=denial.detail,
            data={
                "quantity": str(c.quantity),
                "current": str(c.current),
                "target": str(order.target),
                "reason": order.reason,
            },
        )

    def _event(
        self,
        kind: RiskEventKind,
        trace_id: str,
        *,
        actor: str = "risk",
        reason_code: DenialReason | None = None,
        client_order_id: str | None = None,
        symbol: str | None = None,
        detail: str = "",
        data: dict[str, Any] | None = None,
    ) -> Emitted:
        event = outgoing.risk_event(
            event_time=self.command_time,
            trace_id=trace_id,
            kind=kind,
            trading_state=self.state,
            reason_code=reason_code,
            client_order_id=client_order_id,
            symbol=symbol,
            actor=actor,
            detail=detail,
            data=data or {},
        )
        return (Stream.RISK_EVENTS, event)

    # -- trading state ---------------------------------------------------------------------
    def _transition(self, new: TradingState, reason: str, actor: str, trace: str) -> list[Emitted]:
        old = self.state
        if old is new:
            return []
        self.state = new
        if new is TradingState.HALTED:
            self.counters["halts"] += 1
        return [
            self._event(
                RiskEventKind.STATE_CHANGE,
                trace,
                actor=actor,
                detail=f"{old.value} -> {new.value}: {reason}",
                data={"from": old.value, "to": new.value, "reason": reason},
            )
        ]

    def _halt(self, reason: str, actor: str, flatten: bool, *, immediate: bool = False) -> list[Emitted]:
        """HALTED, CANCEL_ALL, and (``flatten``) an order to close every holding.

        ``immediate`` (operator, between ticks): this tick's watermark is already out, so orders
        stamped with it would arrive late; the CANCEL_ALL acts on receipt instead and the closing
        orders are left to the next ticks (``flattening``).
        """
        at = self.command_time
        seq = self.command_seq
        self.command_seq += 1
        trace = ids.command_id("halt", at, seq)
        out = self._transition(TradingState.HALTED, reason, actor, trace)
        out.append(
            (
                Stream.ORDERS,
                ExecutorCommand(
                    event_time=at,
                    trace_id=trace,
                    command_id=ids.command_id("cancel_all", at, seq),
                    command=ExecutorCommandKind.CANCEL_ALL,
                    reason=reason[:256],
                    immediate=immediate,
                ),
            )
        )
        self.flattening = self.flattening or flatten
        if flatten and not immediate:
            out += self._flatten_orders(at, trace, initial=True)
        return out

    def _flatten_orders(self, at: datetime, trace: str, *, initial: bool) -> list[Emitted]:
        """Orders closing every holding.

        ``initial`` (with the CANCEL_ALL): the position plus the orders sent at earlier ticks, which
        the executor fills at this tick's bar before it reads the CANCEL_ALL (it reads orders one
        tick later); orders sent at ``at`` itself precede the CANCEL_ALL in the stream and are
        cancelled. Later ticks: only symbols with no working order, whose position is then exact.
        """
        portfolio = self.portfolio
        orders = []
        for symbol in portfolio.symbols():
            position = portfolio.ledger.quantity(symbol)
            if initial:
                quantity = position + portfolio.working_before(symbol, at)
            elif portfolio.has_working(symbol):
                continue
            else:
                quantity = position
            if not quantity:
                continue
            price = portfolio.last_price.get(symbol)
            seq = self._next_intent(symbol)
            coid = ids.client_order_id(self.strategy_id, symbol, at, seq)
            candidate = Candidate(coid, symbol, -quantity, quantity, price, None, flatten=True)
            orders.append(_Order(candidate, Decimal(0), price or Decimal(0), trace, None, "flatten", seq, {}))
        return self._check_and_emit(orders, at)

    # -- commands --------------------------------------------------------------------------
    def kill(self, actor: str, reason: str = "kill switch", flatten: bool | None = None) -> list[Emitted]:
        """The operator's kill switch, between ticks: the executor cancels at once (an
        ``immediate`` command), and closing orders follow at the next ticks, stamped with them."""
        do_flatten = self.config.on_halt == "flatten" if flatten is None else flatten
        return self._halt(reason, actor, do_flatten, immediate=True)

    def reset(self, actor: str) -> tuple[list[Emitted], list[str]]:
        """Lift HALTED or REDUCING to ACTIVE; breached guardrails restart from the current equity."""
        self.flattening = False
        if self.state is TradingState.ACTIVE:
            return [], []
        rebased = self.guard.rebase(self.limits)
        trace = self._command_trace("reset")
        return self._transition(TradingState.ACTIVE, "operator reset", actor, trace), rebased

    def set_reducing(self, actor: str, reason: str = "operator") -> list[Emitted]:
        return self._transition(TradingState.REDUCING, reason, actor, self._command_trace("reducing"))

    def change_limits(self, update: LimitsUpdate, actor: str) -> list[Emitted]:
        """Apply (validated by :meth:`LimitsUpdate.apply`) and audit a limits change."""
        new = update.apply(self.limits)
        old = self.limits
        changed = {
            name: [_jsonable(getattr(old, name)), _jsonable(getattr(new, name))]
            for name in sorted(update.model_fields_set)
        }
        self.limits = new
        return [
            self._event(
                RiskEventKind.LIMITS_CHANGED,
                self._command_trace("limits"),
                actor=actor,
                detail=", ".join(f"{k}: {a} -> {b}" for k, (a, b) in changed.items()),
                data={"changed": changed},
            )
        ]

    def _command_trace(self, kind: str) -> str:
        seq = self.command_seq
        self.command_seq += 1
        return ids.command_id(kind, self.command_time, seq)

    # -- views -----------------------------------------------------------------------------
    def capture(self) -> Capture:
        """What the views show, as of now (see :mod:`.views`)."""
        guard = self.guard
        return Capture(
            state=self.state,
            flattening=self.flattening,
            last_tick=self.last_tick,
            equity=self.portfolio.equity,
            ledger=self.portfolio.ledger_copy(),
            working=self.portfolio.working_copy(),
            guard=Guardrails(guard.start_of_day, guard.peak, guard.last_equity, guard.session),
            denials=dict(self.denials),
            counters=dict(self.counters),
            limits=self.limits,
        )

    # -- state -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "flattening": self.flattening,
            "limits": self.limits.model_dump(mode="json"),
            "portfolio": self.portfolio.to_dict(),
            "guard": self.guard.to_dict(),
            "checker": self.checker.to_dict(),
            "stats": {s: self.stats[s].to_dict() for s in sorted(self.stats)},
            "bars": {s: [b.event_time.isoformat(), b.age_ms] for s, b in sorted(self.bars.items())},
            "barrier": {s: list(v) for s, v in sorted(self.barrier.items())},
            "last_tick": None if self.last_tick is None else self.last_tick.isoformat(),
            "intent_seq": dict(sorted(self.intent_seq.items())),
            "command_seq": self.command_seq,
            "denials": dict(sorted(self.denials.items())),
            "counters": dict(self.counters),
        }

    def load(self, data: dict[str, Any]) -> None:
        self.reset_state()
        self.state = TradingState(data["state"])
        self.flattening = bool(data["flattening"])
        self.limits = RiskLimits.model_validate(data["limits"])
        self.portfolio.load(data["portfolio"])
        self.guard = Guardrails.from_dict(data["guard"])
        self.checker.load(data["checker"])
        self.stats = {s: MarketStats.from_dict(v) for s, v in data["stats"].items()}
        self.bars = {s: _BarInfo(datetime.fromisoformat(t), float(a)) for s, (t, a) in data["bars"].items()}
        self.barrier = {s: (v[0], v[1]) for s, v in data["barrier"].items()}
        last = data["last_tick"]
        self.last_tick = None if last is None else datetime.fromisoformat(last)
        self.intent_seq = {s: int(v) for s, v in data["intent_seq"].items()}
        self.command_seq = int(data["command_seq"])
        self.denials = {k: int(v) for k, v in data["denials"].items()}
        self.counters = {k: int(v) for k, v in data["counters"].items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value
