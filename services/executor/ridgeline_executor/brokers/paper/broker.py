"""The paper venue: a broker simulator that matches orders against the bars stream.

It is a venue, not part of the executor: its books live in Redis (:mod:`.state`), each change in
its own MULTI/EXEC guarded by WATCH, so they survive an executor crash exactly as a real venue's
would and the executor has to reconcile with them like with any venue. Matching a bar is
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

import redis
from redis import Redis

from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailableError,
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
from ridgeline_executor.brokers.paper.state import PaperState
from ridgeline_shared.accounting import to_decimal
from ridgeline_shared.keys import Keys
from ridgeline_shared.market import MarketStats
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus

log = logging.getLogger("ridgeline.executor.paper")

_RETRIES = 50


class PaperBroker(Broker):
    def __init__(
        self, redis_client: Redis, keys: Keys, config: PaperBrokerConfig, bars_per_session: int = 288
    ) -> None:
        self.config = config
        self.venue = config.venue
        self.state = PaperState(redis_client, keys)
        self.redis = redis_client
        self.bars_per_session = bars_per_session
        # Statistics cached per symbol with the bar time they include: used only while Redis's
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
        state = self.state
        try:
            for _ in range(_RETRIES):
                with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(state.orders_key, state.account_key)  # type: ignore[no-untyped-call]
                        if pipe.hexists(state.orders_key, spec.client_order_id):
                            raise DuplicateClientOrderIdError(
                                f"client order id {spec.client_order_id} already used at {self.venue}"
                            )
                        order = PaperOrder.from_spec(self.venue, spec)
                        refusal = self._refusal(pipe, spec)
                        if refusal:
                            order.status, order.reason = OrderStatus.REJECTED, refusal
                        pipe.multi()
                        state.write_order(pipe, order)
                        pipe.execute()
                        return order.report()
                    except redis.WatchError:
                        continue
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        raise BrokerUnavailableError("paper venue: too many concurrent updates")

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        state = self.state
        try:
            for _ in range(_RETRIES):
                with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(state.orders_key)  # type: ignore[no-untyped-call]
                        order = state.read_order(pipe, state.orders_key, client_order_id)
                        if order is None:
                            return None
                        if not order.working:
                            pipe.unwatch()
                            return order.report()
                        order.status, order.reason = OrderStatus.CANCELED, "canceled on request"
                        pipe.multi()
                        state.write_order(pipe, order)
                        pipe.execute()
                        return order.report()
                    except redis.WatchError:
                        continue
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        raise BrokerUnavailableError("paper venue: too many concurrent updates")

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        try:
            order = self.state.read_order(self.redis, self.state.orders_key, client_order_id)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        return None if order is None else order.report()

    def open_orders(self) -> list[BrokerOrder]:
        try:
            cids = sorted(m.decode() for m in self.redis.smembers(self.state.open_key))  # type: ignore[union-attr]
            orders = self.state.read_orders(self.redis, self.state.orders_key, cids)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        return [o.report() for o in orders if o.working]

    def positions(self) -> list[BrokerPosition]:
        try:
            ledger = self.state.read_ledger(self.redis, self.config.initial_cash)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        return [BrokerPosition(p.symbol, p.quantity, p.avg_price) for p in ledger.open_positions()]

    def account(self) -> BrokerAccount:
        try:
            ledger = self.state.read_ledger(self.redis, self.config.initial_cash)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        return BrokerAccount(cash=ledger.cash, equity=ledger.equity, buying_power=ledger.cash, currency="")

    # -- the venue's matching engine -----------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        """Match the symbol's working orders against ``bar``, then learn the bar's statistics."""
        try:
            for _ in range(_RETRIES):
                try:
                    if self._match_bar(bar):
                        return
                except redis.WatchError:
                    continue
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        raise BrokerUnavailableError("paper venue: too many concurrent updates")

    def _match_bar(self, bar: Bar) -> bool:
        state = self.state
        view = BarView(
            symbol=bar.symbol,
            event_time=bar.event_time,
            open_time=bar.open_time,
            open=to_decimal(bar.open),
            high=to_decimal(bar.high),
            low=to_decimal(bar.low),
            volume=to_decimal(bar.volume),
        )
        bar_key = state.bar_key(bar.symbol)
        params = replace(self._params, tick=self.config.tick(bar.symbol))
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(bar_key, state.account_key, state.orders_key)  # type: ignore[no-untyped-call]
            last = state.read_time(pipe, bar_key)
            if last is not None and bar.event_time <= last:
                pipe.unwatch()
                self._stats.pop(bar.symbol, None)
                return True  # already matched: idempotent per (symbol, bar time)
            stats = self._load_stats(pipe, bar.symbol, last)
            costs = self._costs(bar.symbol, stats)
            cids = sorted(m.decode() for m in pipe.smembers(state.open_symbol_key(bar.symbol)))  # type: ignore[union-attr]
            orders = state.read_orders(pipe, state.orders_key, cids)
            ledger = state.read_ledger(pipe, self.config.initial_cash)
            changed = []
            for order in orders:
                result = match(order, view, costs, params, self.venue)
                if result.fill is None and result.status is None:
                    continue
                apply_match(order, result)
                if result.fill is not None:
                    fill = result.fill
                    signed = fill.quantity if order.side is OrderSide.BUY else -fill.quantity
                    ledger.apply_fill(order.symbol, signed, fill.price, fill.commission)
                changed.append(order)
            ledger.mark(bar.symbol, to_decimal(bar.close))
            stats.update(bar.high, bar.low, bar.close, bar.volume)
            pipe.multi()
            for order in changed:
                state.write_order(pipe, order)
            state.write_ledger(pipe, ledger)
            state.write_stats(pipe, bar.symbol, stats)
            pipe.set(bar_key, bar.event_time.isoformat())
            pipe.execute()
        self._stats[bar.symbol] = (bar.event_time, stats)
        return True

    # -- helpers -------------------------------------------------------------------------------
    def _load_stats(self, pipe: redis.client.Pipeline, symbol: str, last: datetime | None) -> MarketStats:
        cached = self._stats.pop(symbol, None)
        if cached is not None and cached[0] == last:
            return cached[1]
        raw = self.state.read_stats(pipe, symbol)
        if raw is not None:
            return MarketStats.from_dict(raw)
        cfg = self.config
        return MarketStats(cfg.vol_window_bars, cfg.spread_window_bars, self.bars_per_session)

    def _costs(self, symbol: str, stats: MarketStats) -> CostInputs:
        cfg = self.config
        sigma = stats.sigma_bps(cfg.sigma_min_bars)
        return CostInputs(
            spread_bps=stats.spread_bps(cfg.spread_default(symbol), cfg.spread_min_bars),
            sigma_daily_bps=None if sigma is None else sigma * math.sqrt(self.bars_per_session),
            adv=stats.adv_shares(),
        )

    def _refusal(self, pipe: redis.client.Pipeline, spec: OrderSpec) -> str:
        """Why the venue rejects the order ('' if it accepts): buying power of a cash account."""
        if not self.config.check_buying_power or spec.side is not OrderSide.BUY:
            return ""
        raw = self.state.read_stats(pipe, spec.symbol)
        last = None if raw is None else raw["last"][2]
        price = spec.limit_price or (None if last is None else to_decimal(float(last)))
        if price is None:
            return ""
        ledger = self.state.read_ledger(pipe, self.config.initial_cash)
        needed = spec.quantity * price
        if needed > ledger.cash:
            return f"insufficient buying power: {needed} needed, {ledger.cash} available"
        return ""
