"""Exactly-once submission and reconciliation: the executor's work against a venue and its log.

Submitting a request (``handle_request``):

1. A client id already in our state is a redelivery or a replay: nothing is sent.
2. A client id in the Redis order log but not in our state is the write-ahead of a tick that never
   committed (we crashed after writing it): the venue is asked by client id and its answer is
   adopted; nothing is sent unless the venue never received it and the tick decides again.
3. New submissions are refused (DENIED, never sent) until reconciliation with the venue is done.
4. The venue is asked by client id even so (our log may be gone; another instance may have sent
   it); a known id is adopted, not sent again.
5. SUBMITTED is written ahead, durably, then the order is sent; the venue's answer (ACCEPTED,
   REJECTED, fills) is recorded and committed with the tick. A timeout or lost connection leaves
   the order in flight until the venue is asked.

Reconciliation (``reconcile``: at start, after any lost connection, periodically, on command)
asks the venue for its open orders, every working order they do not explain, its positions and
its cash, and applies :func:`ridgeline_executor.orders.reconcile.plan`. Until it succeeds the
executor is not ready and sends nothing new.

Every status change becomes an :class:`~ridgeline_executor.orders.order.OrderEvent`; ``flush``
turns the events due at a tick into executions and the log writes that go with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis.client import Pipeline

from ridgeline_executor.book import Book
from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerOrder,
    DuplicateClientOrderIdError,
    OrderSpec,
)
from ridgeline_executor.orders.order import DuplicateFillError, FillRecord, Order, OverfillError
from ridgeline_executor.orders.reconcile import (
    Action,
    ApplyFill,
    ApplyStatus,
    Fees,
    Forget,
    ReportDifference,
    Resubmit,
    orders_to_query,
    plan,
    plan_order,
)
from ridgeline_executor.orders.state import InvalidTransitionError
from ridgeline_executor.store import OrderLog
from ridgeline_shared.accounting import Ledger, Position, to_decimal
from ridgeline_shared.ids import stable_id
from ridgeline_shared.messages import Bar, Execution, ExecutorCommand, OrderRequest
from ridgeline_shared.messages.enums import (
    ExecutorCommandKind,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

log = logging.getLogger("ridgeline.executor")

S = OrderStatus


@dataclass(frozen=True, slots=True)
class EngineOptions:
    strategy_id: str = "ridgeline"
    fees: Fees = field(default_factory=Fees)
    retain_closed_orders: int = 200
    command_window: int = 1000


@dataclass(slots=True)
class Flush:
    executions: list[Execution] = field(default_factory=list)
    op: Callable[[Pipeline], None] | None = None


class Executor:
    def __init__(self, broker: Broker, store: OrderLog, book: Book, options: EngineOptions = EngineOptions()):
        self.broker = broker
        self.store = store
        self.book = book
        self.options = options
        self.reconciled = False
        self.last_error = ""
        self.last_account: BrokerAccount | None = None
        self.last_summary: dict[str, Any] = {}
        self.reconciliations = 0
        self._dirty: set[str] = set()
        self._fills: list[dict[str, Any]] = []
        self._reports: list[dict[str, Any]] = []

    @property
    def venue(self) -> str:
        return self.broker.venue

    # -- start and reconciliation ------------------------------------------------------------
    def start(self) -> bool:
        """Take back write-ahead records of uncommitted ticks, then reconcile with the venue."""
        for cid in self.store.open_ids():
            if cid in self.book.orders:
                continue
            order = self.store.load(cid)
            if order is None or order.terminal:
                continue
            order.recovered = True
            self.book.add(order)
            log.warning("recovered in-flight order %s from the write-ahead log", cid)
        return self.try_reconcile("start")

    def try_reconcile(self, why: str) -> bool:
        try:
            self.reconcile(why)
        except BrokerError as exc:
            self._lost(exc)
            return False
        return True

    def reconcile(self, why: str = "command") -> dict[str, Any]:
        broker = self.broker
        if self.book.ledger is None:
            self._open_ledger()
        open_reports = {r.client_order_id: r for r in broker.open_orders()}
        reports: dict[str, BrokerOrder | None] = dict(open_reports)
        for query in orders_to_query(self.book.orders.values(), open_reports):
            reports[query.client_order_id] = broker.get_order(query.client_order_id)
        positions = {p.symbol: p.quantity for p in broker.positions()}
        account = broker.account()
        ledger = self.book.ledger
        assert ledger is not None
        actions = plan(
            self.book.orders,
            reports,
            venue=self.venue,
            last_tick=self.book.last_tick,
            fees=self.options.fees,
            broker_open=open_reports.keys(),
            local_positions=self.book.positions(),
            broker_positions=positions,
            local_cash=ledger.cash,
            broker_cash=account.cash,
        )
        self._apply(actions)
        self.last_account = account
        self.reconciled = True
        self.last_error = ""
        self.reconciliations += 1
        differences = [a.to_dict() for a in actions if isinstance(a, ReportDifference)]
        self.last_summary = {
            "why": why,
            "actions": len(actions),
            "fills": sum(isinstance(a, ApplyFill) for a in actions),
            "differences": differences,
        }
        if differences:
            log.warning("reconciliation (%s) found %d differences: %s", why, len(differences), differences)
        return self.last_summary

    def _open_ledger(self) -> None:
        """Open the books from the venue's account: its cash and positions are the opening balance."""
        account = self.broker.account()
        ledger = Ledger(cash=account.cash)
        for p in self.broker.positions():
            avg = p.avg_entry_price or Decimal(0)
            ledger.positions[p.symbol] = Position(
                p.symbol, p.quantity, p.quantity * avg, last_price=avg or None
            )
        self.book.ledger = ledger
        self._report(
            ReportDifference("opening", "ledger", "none", str(account.cash), "books opened from the venue")
        )

    def poll(self) -> None:
        """Bring the working orders up to date with the venue (after a bar, between ticks)."""
        if not any(True for _ in self.book.working()):
            return
        if not self.reconciled:
            self.try_reconcile("reconnect")
            return
        try:
            open_reports = {r.client_order_id: r for r in self.broker.open_orders()}
            reports: dict[str, BrokerOrder | None] = dict(open_reports)
            for query in orders_to_query(self.book.orders.values(), open_reports):
                reports[query.client_order_id] = self.broker.get_order(query.client_order_id)
        except BrokerError as exc:
            self._lost(exc)
            return
        working = {o.client_order_id: o for o in self.book.working()}
        self._apply(
            plan(working, reports, venue=self.venue, last_tick=self.book.last_tick, fees=self.options.fees)
        )

    def _lost(self, exc: Exception) -> None:
        if self.reconciled:
            log.warning("broker %s: %s; reconciling before anything new is sent", self.venue, exc)
        self.reconciled = False
        self.last_error = str(exc)

    # -- requests ----------------------------------------------------------------------------
    def handle_request(self, request: OrderRequest, tick: datetime | None) -> None:
        cid = request.client_order_id
        known = self.book.orders.get(cid)
        if known is not None:
            if known.recovered and known.status is S.SUBMITTED:
                # Its own write-ahead, left unresolved at start (the venue did not answer): the
                # tick that wrote it is being redone now, so it decides now.
                self._resolve_in_flight(known)
            else:
                log.info("order request %s already handled (redelivery or replay): nothing sent", cid)
            return
        logged = self.store.load(cid)
        if logged is not None:
            if logged.terminal:
                log.info("order request %s is in the log as %s: nothing sent", cid, logged.status.value)
                return
            log.warning("order %s was written ahead by an uncommitted tick: asking the venue", cid)
            self.book.add(logged)
            self._resolve_in_flight(logged)
            return
        self._submit(Order.from_request(request), tick)

    def _resolve_in_flight(self, order: Order) -> None:
        """A written-ahead order whose request is being handled again: adopt the venue's view of
        it, or send it if the venue never received it. Without the venue it stays in flight and
        the next reconciliation resends it (fresh) or expires it (stale)."""
        order.recovered = False
        self._dirty.add(order.client_order_id)
        if not self.reconciled and not self.try_reconcile("before resolving an in-flight order"):
            return
        if order.status is not S.SUBMITTED:
            return  # the reconciliation just resolved it
        try:
            report = self.broker.get_order(order.client_order_id)
        except BrokerError as exc:
            self._lost(exc)
            return
        if report is None:
            self._send(order)
        else:
            self._apply_report(order, report)

    def _submit(self, order: Order, tick: datetime | None) -> None:
        """Check the venue, write ahead, send, record the answer (see the module docstring)."""
        cid = order.client_order_id
        if not self.reconciled and not self.try_reconcile("before submission"):
            self._deny(order, tick, f"not reconciled with {self.venue}: {self.last_error}"[:256])
            return
        try:
            known = self.broker.get_order(cid)
        except BrokerError as exc:
            self._lost(exc)
            self._deny(order, tick, f"{self.venue} unavailable: {exc}"[:256])
            return
        order.submit_tick = tick
        order.transition(S.SUBMITTED, not_before=tick)
        self.book.add(order)
        self._dirty.add(cid)
        if known is not None:
            self._report(
                ReportDifference("order", cid, "new", known.status.value, "already at the venue: adopted")
            )
            self._apply_report(order, known)
            return
        self.store.write_ahead(order)
        self._send(order)

    def _deny(self, order: Order, tick: datetime | None, reason: str) -> None:
        order.transition(S.DENIED, reason, not_before=tick)
        self.book.add(order)
        self._dirty.add(order.client_order_id)
        log.warning("order %s denied: %s", order.client_order_id, reason)

    def _send(self, order: Order) -> None:
        spec = OrderSpec(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            quantity=order.quantity,
            time_in_force=order.time_in_force,
            event_time=order.event_time,
            limit_price=order.limit_price,
        )
        try:
            report: BrokerOrder | None = self.broker.submit(spec)
        except DuplicateClientOrderIdError:
            try:
                report = self.broker.get_order(order.client_order_id)
            except BrokerError as exc:
                self._lost(exc)
                return
        except BrokerError as exc:
            # Outcome unknown: the order stays in flight until the venue is asked.
            self._lost(exc)
            return
        if report is not None:
            self._apply_report(order, report)

    def _apply_report(self, order: Order, report: BrokerOrder) -> None:
        self._apply(
            plan_order(order, report, venue=self.venue, last_tick=self.book.last_tick, fees=self.options.fees)
        )

    # -- commands ----------------------------------------------------------------------------
    def handle_command(self, command: ExecutorCommand, tick: datetime | None) -> list[str]:
        if not self.book.remember_command(command.command_id, self.options.command_window):
            log.info("command %s already carried out", command.command_id)
            return []
        if command.command is ExecutorCommandKind.CANCEL_ALL:
            return self.cancel_all(command.reason or "cancel all", tick)
        return self.flatten(command.command_id, command.event_time, command.reason or "flatten", tick)

    def cancel_all(self, reason: str, tick: datetime | None = None) -> list[str]:
        """Ask the venue to cancel every working order; returns their client ids."""
        canceled = []
        for order in list(self.book.working()):
            cid = order.client_order_id
            if order.status is not S.PENDING_CANCEL:
                order.transition(S.PENDING_CANCEL, reason[:256], not_before=tick)
                self._dirty.add(cid)
            canceled.append(cid)
            try:
                report = self.broker.cancel(cid)
            except BrokerError as exc:
                self._lost(exc)
                continue
            if report is not None:
                self._apply_report(order, report)
        return canceled

    def flatten(self, command_id: str, event_time: datetime, reason: str, tick: datetime | None) -> list[str]:
        """Cancel everything, then close every position with a market order whose client id is a
        function of (strategy, command, symbol): a repeated command sends nothing twice."""
        self.cancel_all(f"flatten: {reason}", tick)
        sent = []
        for symbol, quantity in sorted(self.book.positions().items()):
            cid = stable_id("RL", self.options.strategy_id, "flatten", command_id, symbol)
            if cid in self.book.orders or self.store.load(cid) is not None:
                continue
            order = Order(
                client_order_id=cid,
                strategy_id=self.options.strategy_id,
                symbol=symbol,
                side=OrderSide.SELL if quantity > 0 else OrderSide.BUY,
                order_type=OrderType.MARKET,
                quantity=abs(quantity),
                time_in_force=TimeInForce.GTC,
                event_time=event_time,
                trace_id=f"flatten:{command_id}"[:128],
                reason=f"flatten: {reason}"[:128],
            )
            self._submit(order, tick)
            sent.append(cid)
        return sent

    # -- market data -------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        try:
            self.broker.on_bar(bar)
        except BrokerError as exc:
            self._lost(exc)
        if self.book.ledger is not None:
            self.book.ledger.mark(bar.symbol, to_decimal(bar.close))

    # -- applying actions ------------------------------------------------------------------
    def _apply(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, ReportDifference):
                self._report(action)
                continue
            cid = action.client_order_id
            order = self.book.orders.get(cid)
            if order is None:
                continue
            self._dirty.add(cid)
            try:
                if isinstance(action, ApplyStatus):
                    order.transition(
                        action.status,
                        action.reason,
                        venue_order_id=action.venue_order_id,
                        not_before=action.not_before,
                    )
                elif isinstance(action, ApplyFill):
                    self._book_fill(order, action.fill)
                elif isinstance(action, Resubmit):
                    log.warning("order %s never reached %s: sending it again", cid, self.venue)
                    self._send(order)
                elif isinstance(action, Forget):
                    log.warning("order %s: write-ahead of an uncommitted tick, never sent: forgotten", cid)
                    self.store.forget(cid)
                    del self.book.orders[cid]
                    self._dirty.discard(cid)
            except (InvalidTransitionError, OverfillError) as exc:
                self._report(
                    ReportDifference("order", cid, order.status.value, type(action).__name__, str(exc))
                )

    def _book_fill(self, order: Order, fill: FillRecord) -> None:
        try:
            self.book.book_fill(order, fill)
        except DuplicateFillError:
            return
        self._fills.append(
            {
                "trade_id": fill.trade_id,
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": order.side.value,
                "quantity": str(fill.quantity),
                "price": str(fill.price),
                "commission": str(fill.commission),
                "synthetic": fill.synthetic,
                "bar_time": None if fill.bar_time is None else fill.bar_time.isoformat(),
            }
        )

    def _report(self, difference: ReportDifference) -> None:
        self._reports.append({**difference.to_dict(), "venue": self.venue})

    # -- output --------------------------------------------------------------------------------
    def flush(self, tick: datetime | None) -> Flush:
        """The executions due at ``tick`` (none between ticks: they wait for the next one) and
        one op writing every changed order, fill and difference to the log."""
        out = Flush()
        if tick is not None:
            for cid in sorted(self.book.orders):
                order = self.book.orders[cid]
                while order.published < len(order.events):
                    event = order.events[order.published]
                    if event.not_before is not None and event.not_before > tick:
                        break
                    out.executions.append(order.execution(event, tick))
                    order.published += 1
                    self._dirty.add(cid)
            out.executions.sort(key=lambda e: (e.symbol, e.client_order_id, e.sequence))
            self.book.last_tick = tick
        changed = [self.book.orders[c] for c in sorted(self._dirty) if c in self.book.orders]
        for order in changed:
            order.recovered = False  # committed with this flush: no longer an uncommitted write-ahead
        if changed or self._fills or self._reports:
            out.op = self.store.commit_op(changed, self._fills, self._reports)
        self._dirty.clear()
        self._fills = []
        self._reports = []
        self.book.prune(self.options.retain_closed_orders)
        return out
