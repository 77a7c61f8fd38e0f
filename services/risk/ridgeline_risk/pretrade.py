"""Pre-trade checks on every order (MATH.md s.3, the market-access-rule set), plus the position
guardrails (concentration, gross exposure) that deny the order which would pass them.

Check order: duplicate id first (a replayed request must never count as a new one), then
trading state, symbol, price, collar, size, notional, concentration, gross exposure, and the rate
last, so only orders that would really be sent use up the rate.

Risk-reducing flatten orders (``flatten=True``) are checked for a duplicate id and a price only:
a limit that blocked the flatten would keep exactly the risk the halt is meant to remove.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from ridgeline_risk.config import RiskLimits
from ridgeline_risk.portfolio import RecentIds
from ridgeline_risk.sizing import fraction
from ridgeline_shared.messages import DenialReason, TradingState

_ZERO = Decimal(0)

GrossExcluding = Callable[[str], Decimal]
"""The book's gross exposure (``|effective quantity| x last price`` summed over its symbols that
have a price) without the given symbol, in the current context."""


def book_gross(book: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> GrossExcluding:
    """:data:`GrossExcluding` summed from scratch over ``book`` (effective quantity per symbol), in
    its order; the portfolio keeps the same figure as positions change."""

    def excluding(symbol: str) -> Decimal:
        return sum((abs(q) * prices[s] for s, q in book.items() if s != symbol and s in prices), _ZERO)

    return excluding


class Candidate(NamedTuple):
    """An order risk wants to send. ``quantity`` is signed (buy > 0); ``current`` is the symbol's
    effective holding (position + working orders) before it; ``signal_price`` is the price the
    decision was made at, checked against ``last_price`` by the collar."""

    client_order_id: str
    symbol: str
    quantity: Decimal
    current: Decimal
    last_price: Decimal | None
    signal_price: Decimal | None = None
    flatten: bool = False


class Denial(NamedTuple):
    reason: DenialReason
    detail: str


def reduces(current: Decimal, quantity: Decimal) -> bool:
    """The order shrinks the absolute holding without crossing through zero."""
    after = current + quantity
    return current != 0 and abs(after) < abs(current) and after * current >= 0


class PreTradeChecker:
    """Holds what the checks remember: recent client order ids and recent order times."""

    def __init__(self, dedupe_window: int) -> None:
        self._ids = RecentIds(dedupe_window)
        self._sent: deque[datetime] = deque()

    def check(
        self,
        order: Candidate,
        *,
        state: TradingState,
        limits: RiskLimits,
        gross: GrossExcluding,
        portfolio_value: Decimal,
        event_time: datetime,
    ) -> Denial | None:
        """``gross``: the rest of the book's gross exposure, for the gross-exposure guardrail."""
        if order.client_order_id in self._ids:
            return Denial(DenialReason.DUPLICATE_CLIENT_ORDER_ID, f"{order.client_order_id} already used")
        self._ids.add(order.client_order_id)
        price = order.last_price
        if price is None or price <= 0:
            return Denial(DenialReason.NO_PRICE, f"no last price for {order.symbol}")
        if order.flatten:
            return None
        if state is TradingState.HALTED:
            return Denial(DenialReason.TRADING_HALTED, "trading is halted")
        reducing = reduces(order.current, order.quantity)
        if state is TradingState.REDUCING and not reducing:
            return Denial(DenialReason.REDUCING_ONLY, "trading state REDUCING admits only reducing orders")
        if limits.allowed_symbols and order.symbol not in limits.allowed_symbols:
            return Denial(DenialReason.SYMBOL_NOT_ALLOWED, f"{order.symbol} is not in allowed_symbols")
        if order.signal_price is not None:
            deviation = fraction(abs(order.signal_price - price), price)
            if deviation > limits.price_collar:
                return Denial(
                    DenialReason.PRICE_COLLAR,
                    f"price {order.signal_price} is {deviation:.2%} from last {price} "
                    f"(collar {limits.price_collar:.2%})",
                )
        size = abs(order.quantity)
        if size > limits.max_order_quantity:
            return Denial(DenialReason.MAX_QUANTITY, f"quantity {size} > {limits.max_order_quantity}")
        notional = size * price
        if notional > limits.max_order_notional:
            return Denial(DenialReason.MAX_NOTIONAL, f"notional {notional} > {limits.max_order_notional}")
        denial = self._exposure(order, price, limits=limits, gross=gross, portfolio_value=portfolio_value)
        if denial is not None:
            return denial
        window_start = event_time - timedelta(seconds=limits.rate_window_seconds)
        while self._sent and self._sent[0] <= window_start:
            self._sent.popleft()
        allowed = int(limits.max_orders_per_second * limits.rate_window_seconds) or 1
        if len(self._sent) >= allowed:
            return Denial(
                DenialReason.ORDER_RATE,
                f"{len(self._sent)} orders in the last {limits.rate_window_seconds:g}s of event time "
                f"(max {allowed})",
            )
        return None

    @staticmethod
    def _exposure(
        order: Candidate,
        price: Decimal,
        *,
        limits: RiskLimits,
        gross: GrossExcluding,
        portfolio_value: Decimal,
    ) -> Denial | None:
        before = abs(order.current) * price
        after = abs(order.current + order.quantity) * price
        if after <= before:
            return None  # never deny an order that does not add exposure
        if portfolio_value <= 0:
            return Denial(DenialReason.CONCENTRATION, "portfolio value is not positive")
        concentration = fraction(after, portfolio_value)
        if concentration > limits.max_concentration:
            return Denial(
                DenialReason.CONCENTRATION,
                f"{order.symbol} would be {concentration:.2%} of the portfolio "
                f"(max {limits.max_concentration:.2%})",
            )
        total = fraction(gross(order.symbol) + after, portfolio_value)
        if total > limits.max_gross_exposure:
            return Denial(
                DenialReason.GROSS_EXPOSURE,
                f"gross exposure would be {total:.2%} (max {limits.max_gross_exposure:.2%})",
            )
        return None

    def sent(self, event_time: datetime) -> None:
        """Count an order that passed and was emitted, for the rate check."""
        self._sent.append(event_time)

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self._ids.to_list(), "sent": [t.isoformat() for t in self._sent]}

    def load(self, data: dict[str, Any]) -> None:
        self._ids = RecentIds(self._ids.size, data["ids"])
        self._sent = deque(datetime.fromisoformat(t) for t in data["sent"])
