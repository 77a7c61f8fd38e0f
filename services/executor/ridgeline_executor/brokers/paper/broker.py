"""The paper venue: a broker simulator that matches orders against the bars stream.

It is a venue, not part of the executor: its books live apart (:mod:`.state`), each change one
unit of work; in Redis (a MULTI/EXEC guarded by WATCH) they survive an executor crash exactly as
a real venue's would and the executor has to reconcile with them like with any venue; in memory
(the in-process backtest) the same logic runs on the same records. Matching a bar is
idempotent per (symbol, bar event time): a restarted executor that feeds bar T again changes
nothing. Prices and cash are exact (``Decimal``; the venue account is a
:class:`~ridgeline_shared.accounting.Ledger`), and fills carry deterministic trade ids
(``ids.trade_id(venue, client order id, n)``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime

from redis import Redis

from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerOrder,
    BrokerPosition,
    DuplicateClientOrderIdError,
    OrderSpec,
)
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.brokers.paper.matching import (
    BarView,
    CostInputs,
    MatchParams,
    PaperOrder,
    apply_match,
    match,
)
from ridgeline_executor.brokers.paper.state import BooksView, PaperBooks, PaperState
from ridgeline_shared.accounting import to_decimal
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.keys import Keys
from ridgeline_shared.market import MarketStats
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus

log = logging.getLogger("ridgeline.executor.paper")


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

    # -- the protocol --------------------------------------------------------------------
    def submit(self, spec: OrderSpec) -> BrokerOrder:
        def work(books: BooksView) -> BrokerOrder:
            if books.has_order(spec.client_order_id):
                raise DuplicateClientOrderIdError(
                    f"client order id {spec.client_order_id} already used at {self.venue}"
                )
            order = PaperOrder.from_spec(self.venue, spec)
            refusal = self._refusal(books, spec)
            if refusal:
                order.status, order.reason = OrderStatus.REJECTED, refusal
            books.put_order(order)
            return order.report()

        return self.books.transact(work, ("orders", "account"))

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        def work(books: BooksView) -> BrokerOrder | None:
            order = books.order(client_order_id)
            if order is None:
                return None
            if order.working:
                order.status, order.reason = OrderStatus.CANCELED, "canceled on request"
                books.put_order(order)
            return order.report()

        return self.books.transact(work, ("orders",))

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        order = self.books.read(lambda books: books.order(client_order_id))
        return None if order is None else order.report()

    def open_orders(self) -> list[BrokerOrder]:
        orders = self.books.read(lambda books: books.orders(books.open_ids()))
        return [o.report() for o in orders if o.working]

    def positions(self) -> list[BrokerPosition]:
        ledger = self.books.read(lambda books: books.ledger(self.config.initial_cash))
        return [BrokerPosition(p.symbol, p.quantity, p.avg_price) for p in ledger.open_positions()]

    def account(self) -> BrokerAccount:
        ledger = self.books.read(lambda books: books.ledger(self.config.initial_cash))
        return BrokerAccount(cash=ledger.cash, equity=ledger.equity, buying_power=ledger.cash, currency="")

    # -- the venue's matching engine -----------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        """Match the symbol's working orders against ``bar``, then learn the bar's statistics."""
        stats = self.books.transact(
            lambda books: self._match_bar(books, bar), (f"bar:{bar.symbol}", "account", "orders")
        )
        if stats is not None:
            self._stats[bar.symbol] = (bar.event_time, stats)

    def _match_bar(self, books: BooksView, bar: Bar) -> MarketStats | None:
        """One attempt; the symbol's statistics after the bar, None if it was matched before."""
        view = BarView(
            symbol=bar.symbol,
            event_time=bar.event_time,
            open_time=bar.open_time,
            open=to_decimal(bar.open),
            high=to_decimal(bar.high),
            low=to_decimal(bar.low),
            volume=to_decimal(bar.volume),
        )
        params = replace(self._params, tick=self.config.tick(bar.symbol))
        last = books.last_bar(bar.symbol)
        if last is not None and bar.event_time <= last:
            self._stats.pop(bar.symbol, None)
            return None  # already matched: idempotent per (symbol, bar time)
        stats = self._load_stats(books, bar.symbol, last)
        costs = self._costs(bar.symbol, stats)
        orders = books.orders(books.open_ids(bar.symbol))
        ledger = books.ledger(self.config.initial_cash)
        for order in orders:
            result = match(order, view, costs, params, self.venue)
            if result.fill is None and result.status is None:
                continue
            apply_match(order, result)
            if result.fill is not None:
                fill = result.fill
                signed = fill.quantity if order.side is OrderSide.BUY else -fill.quantity
                ledger.apply_fill(order.symbol, signed, fill.price, fill.commission)
            books.put_order(order)
        ledger.mark(bar.symbol, to_decimal(bar.close))
        stats.update(bar.high, bar.low, bar.close, bar.volume)
        books.put_ledger(ledger)
        books.put_stats(bar.symbol, stats)
        books.put_last_bar(bar.symbol, bar.event_time)
        return stats

    # -- helpers -------------------------------------------------------------------------------
    def _load_stats(self, books: BooksView, symbol: str, last: datetime | None) -> MarketStats:
        cached = self._stats.pop(symbol, None)
        if cached is not None and cached[0] == last:
            return cached[1]
        raw = books.stats(symbol)
        if raw is not None:
            return MarketStats.from_dict(raw)
        return self.market.new_stats(self.bars_per_session)

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
        raw = self.books.read(lambda books: books.stats(symbol))
        stats = self.market.new_stats(self.bars_per_session) if raw is None else MarketStats.from_dict(raw)
        return self._costs(symbol, stats)

    def _refusal(self, books: BooksView, spec: OrderSpec) -> str:
        """Why the venue rejects the order ('' if it accepts): buying power of a cash account."""
        if not self.config.check_buying_power or spec.side is not OrderSide.BUY:
            return ""
        raw = books.stats(spec.symbol)
        last = None if raw is None else raw["last"][2]
        price = spec.limit_price or (None if last is None else to_decimal(float(last)))
        if price is None:
            return ""
        ledger = books.ledger(self.config.initial_cash)
        needed = spec.quantity * price
        if needed > ledger.cash:
            return f"insufficient buying power: {needed} needed, {ledger.cash} available"
        return ""
