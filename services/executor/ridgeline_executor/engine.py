"""Exactly-once submission and reconciliation: the executor's work against a venue and its log.

Submitting a request (``handle_request``):

1. A client id already in our state is a redelivery or a replay: nothing is sent.
2. A client id in the Redis order log but not in our state is the write-ahead of a tick that never
   committed (we crashed after writing it): the venue is asked by client id and its answer is
   adopted; nothing is sent unless the venue never received it and the tick decides again.
3. New submissions are refused (DENIED, never sent) until reconciliation with the venue is done.
4. The venue is asked by client id even so (our log may be gone; another instance may have sent
   it); a known id is adopted, not sent again. A venue that looks the ids up in the same atomic
   step as it takes the orders (``Broker.checks_client_ids``) is not asked first: the orders
   are written ahead and sent, and the ones it already held are adopted as the lookup would
   have adopted them.
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
from collections.abc import Callable, Iterable, Sequence
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
    VenueView,
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
        self._book = book
        self.options = options
        # Orders that may hold unpublished events (None: unknown, look at every order).
        self._unpublished: set[str] | None = None
        # Working orders whose last venue report planned nothing, with that report and the
        # order's event count then: the same report of the same order plans nothing again.
        self._settled: dict[str, tuple[BrokerOrder, int]] = {}
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

    @property
    def book(self) -> Book:
        return self._book

    @book.setter
    def book(self, book: Book) -> None:
        """A restored book: what is known about its orders starts afresh."""
        self._book = book
        self._unpublished = None
        self._settled = {}

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
        open_reports, reports = self._venue_reports()
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
        """Bring the working orders up to date with the venue (after a bar, between ticks).

        This is ``plan`` over the working orders, skipping those whose report is the very one
        that planned nothing for them last time (a venue's unchanged order comes back as the
        same report object) while they have no new event: ``plan_order`` is a function of the
        two, so it would plan nothing again."""
        self._settle()
        view = self.broker.take_view()
        working = self.book.working()
        if not working:
            return
        if not self.reconciled:
            self.try_reconcile("reconnect")
            return
        try:
            _, reports = self._venue_reports(view, working)
        except BrokerError as exc:
            self._lost(exc)
            return
        actions: list[Action] = []
        settled, self._settled = self._settled, {}
        for order in working:
            cid, report = order.client_order_id, reports.get(order.client_order_id)
            memo = settled.get(cid)
            if report is not None and memo is not None and memo[0] is report and memo[1] == len(order.events):
                self._settled[cid] = memo
                continue
            planned = plan_order(
                order, report, venue=self.venue, last_tick=self.book.last_tick, fees=self.options.fees
            )
            if planned:
                actions.extend(planned)
            elif report is not None:
                self._settled[cid] = (report, len(order.events))
        self._apply(actions)

    def _venue_reports(
        self, view: VenueView | None = None, working: list[Order] | None = None
    ) -> tuple[dict[str, BrokerOrder], dict[str, BrokerOrder | None]]:
        """The venue's open orders, and its report of every order that is working here (None:
        unknown to the venue): the open list, then one lookup for the working orders not in it.
        A view the venue left (see ``Broker.take_view``) answers what it can."""
        if view is None:
            open_reports = {r.client_order_id: r for r in self.broker.open_orders()}
        else:
            open_reports = dict(view.open)
        reports: dict[str, BrokerOrder | None] = dict(open_reports)
        missing = []
        for query in orders_to_query(self.book.working() if working is None else working, open_reports):
            cid = query.client_order_id
            if view is not None and cid in view.changed:
                reports[cid] = view.changed[cid]
            else:
                missing.append(cid)
        if missing:
            reports.update(self.broker.get_orders(missing))
        return open_reports, reports

    def _settle(self) -> None:
        """Let the venue carry out deferred bars (a failure is one of matching them)."""
        try:
            self.broker.settle()
        except BrokerError as exc:
            self._lost(exc)

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

    def handle_requests(self, requests: Sequence[OrderRequest], tick: datetime | None) -> None:
        """A tick's run of requests, as :meth:`handle_request` one after the other would, with
        the new ones batched: one log lookup (none for requests made after every logged order:
        the log cannot hold them), one venue lookup (none where the venue looks the ids up as
        it takes them), one write-ahead and one send for all of them. A request the book or
        the log knows (a redelivery, a recovery) is handled on its own, after the new ones
        before it were sent."""
        orders, store = self.book.orders, self.store
        unknown = [
            r.client_order_id
            for r in requests
            if r.client_order_id not in orders and store.may_hold(r.event_time)
        ]
        logged = self.store.load_many(unknown) if unknown else {}
        fresh: dict[str, Order] = {}
        for request in requests:
            cid = request.client_order_id
            if cid in fresh:
                log.info("order request %s already handled (redelivery or replay): nothing sent", cid)
            elif cid in self.book.orders or logged.get(cid) is not None:
                self._submit_many(list(fresh.values()), tick)
                fresh = {}
                self.handle_request(request, tick)
            else:
                fresh[cid] = Order.from_request(request)
        self._submit_many(list(fresh.values()), tick)

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

    def _submit_many(self, orders: list[Order], tick: datetime | None) -> None:
        """:meth:`_submit` for each, batched. Where that would go one by one anyway (not
        reconciled: each tries to reconcile or is denied) or the venue does not answer the
        lookup, it goes one by one, so denials read as they always did."""
        if not orders:
            return
        if not self.reconciled:
            for order in orders:
                self._submit(order, tick)
            return
        if self.broker.checks_client_ids:
            self._submit_checked(orders, tick)
            return
        try:
            known = self.broker.get_orders([o.client_order_id for o in orders])
        except BrokerError:
            for order in orders:
                self._submit(order, tick)
            return
        sending = []
        for order in orders:
            cid = order.client_order_id
            order.submit_tick = tick
            order.transition(S.SUBMITTED, not_before=tick)
            self.book.add(order)
            self._dirty.add(cid)
            report = known.get(cid)
            if report is not None:
                self._report(
                    ReportDifference(
                        "order", cid, "new", report.status.value, "already at the venue: adopted"
                    )
                )
                self._apply_report(order, report)
            else:
                sending.append(order)
        if sending:
            self.store.write_ahead_many(sending)
            self._send_many(sending)

    def _submit_checked(self, orders: list[Order], tick: datetime | None) -> None:
        """:meth:`_submit_many` on a venue that looks the client ids up as it takes the orders
        (one atomic step): written ahead, then sent, with no lookup before. An order the venue
        already held is adopted as the lookup would have adopted it (its write-ahead is then
        only a record of an order the venue holds, which the commit overwrites); if the venue
        fails, each order's outcome is unknown and it stays in flight until the venue is asked."""
        for order in orders:
            order.submit_tick = tick
            order.transition(S.SUBMITTED, not_before=tick)
            self.book.add(order)
            self._dirty.add(order.client_order_id)
        self.store.write_ahead_many(orders)
        try:
            taken = self.broker.submit_checked([_spec(o) for o in orders])
        except BrokerError as exc:
            self._lost(exc)
            return
        for order, (report, held) in zip(orders, taken, strict=True):
            if held:
                self._report(
                    ReportDifference(
                        "order",
                        order.client_order_id,
                        "new",
                        report.status.value,
                        "already at the venue: adopted",
                    )
                )
            self._apply_report(order, report)

    def _send_many(self, orders: list[Order]) -> None:
        """Send written-ahead orders in one batch; if the venue fails, the outcome of each is
        unknown and they all stay in flight until the venue is asked (as one order would)."""
        try:
            reports = self.broker.submit_many([_spec(o) for o in orders])
        except BrokerError as exc:
            self._lost(exc)
            return
        for order, report in zip(orders, reports, strict=True):
            if report is not None:
                self._apply_report(order, report)

    def _deny(self, order: Order, tick: datetime | None, reason: str) -> None:
        order.transition(S.DENIED, reason, not_before=tick)
        self.book.add(order)
        self._dirty.add(order.client_order_id)
        log.warning("order %s denied: %s", order.client_order_id, reason)

    def _send(self, order: Order) -> None:
        try:
            report: BrokerOrder | None = self.broker.submit(_spec(order))
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
        for order in self.book.working():
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
        self.on_bars([bar])

    def on_bars(self, bars: Sequence[Bar], *, defer: bool = False) -> bool:
        """A tick's bars: matched by the venue (a simulating one) in one call, then marked.
        ``defer``: the tick's new orders follow, and the venue may match the bars in the same
        step as it takes them (before it takes them, exactly as now); True if it does, and
        then their results come with the orders' (a poll now would ask the venue for them)."""
        if not bars:
            return False
        deferred = False
        try:
            if defer:
                deferred = self.broker.on_bars_deferred(bars)
            else:
                self.broker.on_bars(bars)
        except BrokerError as exc:
            self._lost(exc)
        ledger = self.book.ledger
        if ledger is not None:
            for bar in bars:
                ledger.mark(bar.symbol, to_decimal(bar.close))
        return deferred

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
        one op writing every changed order, fill and difference to the log. First the venue
        carries out what it deferred (see ``Broker.on_bars_deferred``)."""
        self._settle()
        out = Flush()
        orders = self.book.orders
        if self._unpublished is None:
            self._unpublished = set(orders)
        self._unpublished.update(self._dirty)
        if tick is not None:
            for cid in sorted(self._unpublished):
                order = orders.get(cid)
                if order is None:
                    continue
                while order.published < len(order.events):
                    event = order.events[order.published]
                    if event.not_before is not None and event.not_before > tick:
                        break
                    out.executions.append(order.execution(event, tick))
                    order.published += 1
                    self._dirty.add(cid)
            out.executions.sort(key=lambda e: (e.symbol, e.client_order_id, e.sequence))
            self.book.last_tick = tick
        self._unpublished = {
            c for c in self._unpublished if c in orders and orders[c].published < len(orders[c].events)
        }
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


def _spec(order: Order) -> OrderSpec:
    return OrderSpec(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        time_in_force=order.time_in_force,
        event_time=order.event_time,
        limit_price=order.limit_price,
    )
