"""The paper venue: a broker simulator that matches orders against the bars stream.

It is a venue, not part of the executor: its books live apart (:mod:`.state`), each change one
unit of work; in Redis (one compare-and-set script) they survive an executor crash exactly as
a real venue's would and the executor has to reconcile with them like with any venue; in memory
(the in-process backtest) the same logic runs on the same records. A tick's bars are matched in
one unit of work (:meth:`PaperBroker.on_bars`), and so are a tick's new orders
(:meth:`PaperBroker.submit_checked`, which looks their client ids up in the same step); a
tick's bars may be deferred to its orders' unit of work (:meth:`PaperBroker.on_bars_deferred`:
matched first in it, or before any other call answers). Each reads and writes only the books
of the symbols it touches. Matching a bar is idempotent per (symbol, bar event time): a
restarted executor that feeds bar T again changes nothing. Prices and cash are exact
(``Decimal``; the venue account is a :class:`~ridgeline_shared.accounting.Ledger`), and fills
carry deterministic trade ids (``ids.trade_id(venue, client order id, n)``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from redis import Redis

from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    DuplicateClientOrderIdError,
    OrderSpec,
    VenueView,
)
from ridgeline_executor.brokers.paper.books import BooksView, PaperBooks, Slice, full_ledger
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.brokers.paper.matching import (
    WORKING,
    BarView,
    CostInputs,
    MatchParams,
    PaperOrder,
    apply_match,
    match,
)
from ridgeline_executor.brokers.paper.redis_books import PaperState
from ridgeline_shared.accounting import Ledger, to_decimal
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.keys import Keys
from ridgeline_shared.market import MarketStats
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus

log = logging.getLogger("ridgeline.executor.paper")

# The books each kind of unit of work decides on (see .books).
MATCHING = ("symbols", "totals", "orders")
SUBMITTING = ("orders", "totals", "symbols")
CANCELING = ("orders",)


class PaperBroker(Broker):
    def __init__(
        self,
        books: Redis | PaperBooks,
        keys: Keys | None = None,
        config: PaperBrokerConfig | None = None,
        bars_per_session: int = 288,
        market: MarketConfig | None = None,
    ) -> None:
        """``books``: a Redis client (the books under ``keys``) or any :class:`PaperBooks`;
        ``market``: the shared statistics section, so fills pay the spread risk gated on."""
        self.config = config = config or PaperBrokerConfig()
        self.market = market if market is not None else MarketConfig()
        self.venue = config.venue
        self.books: PaperBooks = PaperState(books, keys or Keys()) if isinstance(books, Redis) else books
        self.bars_per_session = bars_per_session
        # Bars kept per symbol: enough to rebuild every statistics window (a window of n returns
        # or spread terms needs n + 1 bars).
        self._keep = max(self.market.new_stats(bars_per_session).to_dict()["windows"]) + 1
        # Statistics cached per symbol with the bar time they include: used only while the books'
        # marker agrees (another process may drive the venue) and dropped by a failed attempt.
        self._stats: dict[str, tuple[datetime | None, MarketStats]] = {}
        self._params = MatchParams(
            tick=config.tick_size,
            commission_bps=config.commission_bps,
            commission_quantum=config.commission_quantum,
            quantity_step=config.quantity_step,
            impact_k3=config.impact_k3,
            max_participation=config.max_participation,
        )
        self._symbol_params: dict[str, MatchParams] = {}
        # What the last unit of work that changed the books saw of the orders (see take_view).
        self._view: VenueView | None = None
        # A tick's bars whose matching waits for its new orders (see on_bars_deferred).
        self._deferred: list[Bar] = []

    # -- the protocol --------------------------------------------------------------------
    def take_view(self) -> VenueView | None:
        """The orders as the last matching or submission left them (its unit of work read every
        working order and knows what it wrote), once, if no other call came since."""
        self.settle()
        view, self._view = self._view, None
        return view

    def submit(self, spec: OrderSpec) -> BrokerOrder:
        self.settle()
        self._view = None
        ((report, _),) = self.books.transact(
            lambda books: self._take(books, [spec], strict=True)[0], SUBMITTING
        )
        return report

    checks_client_ids = True

    def submit_many(self, specs: Sequence[OrderSpec]) -> list[BrokerOrder | None]:
        """A tick's new orders in one unit of work (all taken, or none)."""
        return [report for report, _ in self.submit_checked(specs)]

    def submit_checked(self, specs: Sequence[OrderSpec]) -> list[tuple[BrokerOrder, bool]]:
        """:meth:`submit_many`, saying which client ids the venue already held (not taken again);
        deferred bars first, in the same unit of work."""
        bars, self._deferred = self._deferred, []
        self._view = None
        if not specs:
            self._on_bars(bars)
            return []

        def work(
            books: BooksView,
        ) -> tuple[Any, VenueView | None, list[tuple[BrokerOrder, bool]], VenueView | None]:
            learned, matched = self._match_bars(books, bars) if bars else ({}, None)
            taken, view = self._take(books, specs, strict=False)
            return learned, matched, taken, view

        try:
            learned, matched, taken, view = self.books.transact(work, SUBMITTING)
        except BrokerError:
            # Whether the unit applied is unknown: the bars are matched again before the next
            # answer (matching is idempotent per symbol and bar time).
            self._deferred = [*bars, *self._deferred]
            raise
        except Exception:
            if not bars:
                raise
            log.exception("matching %d deferred bars with new orders failed: matching them apart", len(bars))
            try:
                self._on_bars(bars)
            except BrokerError:
                raise
            except Exception:
                log.exception("matching %d bars failed", len(bars))
            return self.submit_checked(specs)
        self._stats.update(learned)
        if view is not None and matched is not None:
            view = VenueView(view.open, {**matched.changed, **view.changed})
        self._view = view
        return taken

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        self.settle()
        self._view = None

        def work(books: BooksView) -> BrokerOrder | None:
            order = books.orders([client_order_id]).get(client_order_id)
            if order is None:
                return None
            if order.working:
                order.status, order.reason = OrderStatus.CANCELED, "canceled on request"
                books.put_order(order)
            return order.report()

        return self.books.transact(work, CANCELING)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        return self.get_orders([client_order_id])[client_order_id]

    def get_orders(self, client_order_ids: Sequence[str]) -> dict[str, BrokerOrder | None]:
        self.settle()
        self._view = None
        known = self.books.read(lambda books: books.reports(client_order_ids))
        return {cid: known.get(cid) for cid in client_order_ids}

    def open_orders(self) -> list[BrokerOrder]:
        self.settle()
        self._view = None
        reports = self.books.read(lambda books: books.open_reports())
        return [r for r in reports if r.status in WORKING]

    def positions(self) -> list[BrokerPosition]:
        self.settle()
        self._view = None
        ledger = self._ledger()
        return [BrokerPosition(p.symbol, p.quantity, p.avg_price) for p in ledger.open_positions()]

    def account(self) -> BrokerAccount:
        self.settle()
        self._view = None
        ledger = self._ledger()
        return BrokerAccount(cash=ledger.cash, equity=ledger.equity, buying_power=ledger.cash, currency="")

    # -- the venue's matching engine -----------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        self.on_bars([bar])

    def on_bars(self, bars: Sequence[Bar]) -> None:
        """Match each symbol's working orders against its bars, in order, then learn the bars'
        statistics: one unit of work for all of them."""
        self.settle()
        self._on_bars(bars)

    def on_bars_deferred(self, bars: Sequence[Bar]) -> bool:
        """Keep the bars to match in the unit of work of the tick's new orders
        (:meth:`submit_checked`), or before any other call answers."""
        self.settle()
        self._view = None
        self._deferred = list(bars)
        return bool(bars)

    def settle(self) -> None:
        bars, self._deferred = self._deferred, []
        if bars:
            self._on_bars(bars)

    def _on_bars(self, bars: Sequence[Bar]) -> None:
        self._view = None
        if not bars:
            return
        learned, view = self.books.transact(lambda books: self._match_bars(books, bars), MATCHING)
        self._stats.update(learned)
        self._view = view

    def _match_bars(
        self, books: BooksView, bars: Sequence[Bar]
    ) -> tuple[dict[str, tuple[datetime | None, MarketStats]], VenueView]:
        """One attempt: the statistics of every symbol matched, with the bar time they include,
        and the orders as the attempt leaves them."""
        symbols = dict.fromkeys(b.symbol for b in bars)
        cut = books.slice(symbols, self.config.initial_cash, working=True, open=True)
        live = self._live_stats(books, cut, bars)
        ledger = cut.ledger()
        changed: dict[str, PaperOrder] = {}
        matched: list[str] = []
        for bar in bars:
            symbol, book = bar.symbol, cut.symbols[bar.symbol]
            if book.last_bar is not None and bar.event_time <= book.last_bar:
                continue  # already matched: idempotent per (symbol, bar time)
            stats = live[symbol]
            cut.working[symbol] = self._match_orders(cut.working[symbol], bar, stats, ledger, changed)
            ledger.mark(symbol, to_decimal(bar.close))
            stats.update(bar.high, bar.low, bar.close, bar.volume)
            book.last_bar, book.close = bar.event_time, bar.close
            books.push_bar(symbol, (bar.high, bar.low, bar.close, bar.volume), self._keep)
            matched.append(symbol)
        view = _view(cut, {cid: books.put_order(order) for cid, order in changed.items()})
        if not matched:
            return {}, view
        fills = ledger.fills != cut.totals.fills
        cut.take_ledger(ledger)
        for symbol in dict.fromkeys(matched):
            books.put_symbol(symbol, cut.symbols[symbol])
        if fills:
            books.put_totals(cut.totals)
        return {s: (cut.symbols[s].last_bar, live[s]) for s in matched}, view

    def _match_orders(
        self,
        orders: list[PaperOrder],
        bar: Bar,
        stats: MarketStats,
        ledger: Ledger,
        changed: dict[str, PaperOrder],
    ) -> list[PaperOrder]:
        """Match one bar against its symbol's working orders (by client id); the ones still working."""
        if not orders:
            return orders
        view = BarView(
            symbol=bar.symbol,
            event_time=bar.event_time,
            open_time=bar.open_time,
            open=to_decimal(bar.open),
            high=to_decimal(bar.high),
            low=to_decimal(bar.low),
            volume=to_decimal(bar.volume),
        )
        params = self._params_for(bar.symbol)
        costs = self._costs(bar.symbol, stats)
        working = []
        for order in orders:
            result = match(order, view, costs, params, self.venue)
            if result.fill is not None or result.status is not None:
                apply_match(order, result)
                if result.fill is not None:
                    fill = result.fill
                    signed = fill.quantity if order.side is OrderSide.BUY else -fill.quantity
                    ledger.apply_fill(order.symbol, signed, fill.price, fill.commission)
                changed[order.client_order_id] = order
            if order.working:
                working.append(order)
        return working

    def _live_stats(self, books: BooksView, cut: Slice, bars: Sequence[Bar]) -> dict[str, MarketStats]:
        """The statistics of every symbol with a bar to match: cached while they include the
        books' last bar, else rebuilt from the books' kept bars (bit for bit the same)."""
        live: dict[str, MarketStats] = {}
        rebuild: list[str] = []
        for bar in bars:
            symbol, last = bar.symbol, cut.symbols[bar.symbol].last_bar
            if symbol in live or symbol in rebuild or (last is not None and bar.event_time <= last):
                continue
            cached = self._stats.pop(symbol, None)
            if cached is not None and cached[0] == last:
                live[symbol] = cached[1]
            else:
                rebuild.append(symbol)
        if rebuild:
            for symbol, history in books.history(rebuild, self._keep).items():
                live[symbol] = self._rebuild(history)
        return live

    # -- helpers -------------------------------------------------------------------------------
    def _rebuild(self, history: Sequence[tuple[float, float, float, float]]) -> MarketStats:
        stats = self.market.new_stats(self.bars_per_session)
        for high, low, close, volume in history:
            stats.update(high, low, close, volume)
        return stats

    def _params_for(self, symbol: str) -> MatchParams:
        params = self._symbol_params.get(symbol)
        if params is None:
            params = self._symbol_params[symbol] = replace(self._params, tick=self.config.tick(symbol))
        return params

    def _costs(self, symbol: str, stats: MarketStats) -> CostInputs:
        sigma = self.market.sigma_bps(stats)
        return CostInputs(
            spread_bps=self.market.spread_for(symbol, stats),
            sigma_daily_bps=None if sigma is None else sigma * math.sqrt(self.bars_per_session),
            adv=stats.adv_shares(),
        )

    def market_costs(self, symbol: str) -> CostInputs:
        """The spread, daily sigma and ADV a fill of ``symbol`` at the next bar pays, from the
        bars matched so far (the shared market section's figures)."""
        self.settle()
        history = self.books.read(lambda books: books.history([symbol], self._keep))[symbol]
        return self._costs(symbol, self._rebuild(history))

    def _ledger(self) -> Ledger:
        totals, symbols = self.books.read(lambda books: books.everything(self.config.initial_cash))
        return full_ledger(totals, symbols)

    def _take(
        self, books: BooksView, specs: Sequence[OrderSpec], *, strict: bool
    ) -> tuple[list[tuple[BrokerOrder, bool]], VenueView | None]:
        """Take new orders (``strict``: a known client id raises instead of reporting the
        order); their reports with whether they were known, and the orders as the batch leaves
        them (not for one order)."""
        check = self.config.check_buying_power
        buys = dict.fromkeys(s.symbol for s in specs if check and s.side is OrderSide.BUY)
        ids = [s.client_order_id for s in specs]
        cut = books.slice(buys, self.config.initial_cash, open=not strict, orders=ids)
        taken = cut.orders
        reports: list[tuple[BrokerOrder, bool]] = []
        changed: dict[str, BrokerOrder] = {}
        for spec in specs:
            known = taken.get(spec.client_order_id)
            if known is not None:
                if strict:
                    raise DuplicateClientOrderIdError(
                        f"client order id {spec.client_order_id} already used at {self.venue}"
                    )
                held = spec.client_order_id not in changed
                reports.append((changed.get(spec.client_order_id) or known.report(), held))
                continue
            order = PaperOrder.from_spec(self.venue, spec)
            refusal = self._refusal(cut, spec)
            if refusal:
                order.status, order.reason = OrderStatus.REJECTED, refusal
            report = changed[spec.client_order_id] = books.put_order(order)
            taken[spec.client_order_id] = order
            reports.append((report, False))
        return reports, None if strict else _view(cut, changed)

    def _refusal(self, cut: Slice, spec: OrderSpec) -> str:
        """Why the venue rejects the order ('' if it accepts): buying power of a cash account."""
        if not self.config.check_buying_power or spec.side is not OrderSide.BUY:
            return ""
        last = cut.symbols[spec.symbol].close
        price = spec.limit_price or (None if last is None else to_decimal(float(last)))
        if price is None:
            return ""
        cash = cut.totals.cash
        needed = spec.quantity * price
        if needed > cash:
            return f"insufficient buying power: {needed} needed, {cash} available"
        return ""


def _view(cut: Slice, changed: dict[str, BrokerOrder]) -> VenueView:
    """The open orders a unit of work read, updated with the reports of those it wrote."""
    open_ = dict(cut.open)
    for cid, report in changed.items():
        if report.status in WORKING:
            open_[cid] = report
        else:
            open_.pop(cid, None)
    return VenueView(dict(sorted(open_.items())), changed)
