"""Exact netting ledger: cash, positions, realised and unrealised PnL, commissions.

Money is ``Decimal`` throughout, computed in a 60-digit context, so sums of fills never drift.
Cash and equity are exact sums of exact products. The one rounding is the split of a position's
cost basis on a partial close (at ``COST_QUANTUM`` quote units): it moves at most that much between
realised and unrealised PnL and never changes their sum or equity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

ZERO = Decimal(0)
COST_QUANTUM = Decimal("1e-18")
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Float prices enter through their shortest repr, so 0.1 becomes 0.1, not its binary value."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


@dataclass(slots=True)
class Position:
    """Net position of one symbol. ``cost`` is the signed cost basis of the open quantity."""

    symbol: str
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    last_price: Decimal | None = None

    @property
    def avg_price(self) -> Decimal | None:
        if not self.quantity:
            return None
        with localcontext(_CTX):
            return self.cost / self.quantity

    @property
    def market_value(self) -> Decimal:
        price = self.last_price
        if price is None:
            return self.cost
        with localcontext(_CTX):
            return self.quantity * price

    @property
    def unrealized_pnl(self) -> Decimal:
        with localcontext(_CTX):
            return self.market_value - self.cost

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill of ``signed_qty`` (buy > 0) at ``price``; return the realised PnL."""
        with localcontext(_CTX):
            realized = ZERO
            if self.quantity and (self.quantity > 0) != (signed_qty > 0):
                closing = min(abs(signed_qty), abs(self.quantity))
                if closing == abs(self.quantity):
                    removed = self.cost
                else:
                    removed = (self.cost * closing / abs(self.quantity)).quantize(COST_QUANTUM)
                direction = Decimal(1) if self.quantity > 0 else Decimal(-1)
                realized = direction * closing * price - removed
                self.cost -= removed
                self.quantity -= direction * closing
                opening = abs(signed_qty) - closing
                if opening:
                    self.quantity += -direction * opening
                    self.cost += -direction * opening * price
            else:
                self.quantity += signed_qty
                self.cost += signed_qty * price
            if not self.quantity:
                self.cost = ZERO
            self.realized_pnl += realized
            self.last_price = price
            return realized

    def to_dict(self) -> dict[str, str | None]:
        return {
            "symbol": self.symbol,
            "quantity": str(self.quantity),
            "cost": str(self.cost),
            "realized_pnl": str(self.realized_pnl),
            "last_price": None if self.last_price is None else str(self.last_price),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        last = data.get("last_price")
        return cls(
            symbol=data["symbol"],
            quantity=Decimal(data["quantity"]),
            cost=Decimal(data["cost"]),
            realized_pnl=Decimal(data["realized_pnl"]),
            last_price=None if last is None else Decimal(last),
        )


@dataclass(slots=True)
class Ledger:
    """Cash plus netting positions. ``apply_fill`` is the only way money moves."""

    cash: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    commissions: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fills: int = 0

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def quantity(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.quantity if pos else ZERO

    def apply_fill(
        self, symbol: str, signed_qty: Decimal, price: Decimal, commission: Decimal = ZERO
    ) -> Decimal:
        """Book one fill; returns its realised PnL (before commission)."""
        if not signed_qty:
            raise ValueError("fill quantity must be non-zero")
        if price <= 0:
            raise ValueError("fill price must be positive")
        with localcontext(_CTX):
            realized = self.position(symbol).apply(signed_qty, price)
            self.cash -= signed_qty * price + commission
            self.commissions += commission
            self.realized_pnl += realized
            self.fills += 1
            return realized

    def mark(self, symbol: str, price: Decimal) -> None:
        pos = self.positions.get(symbol)
        if pos is not None:
            pos.last_price = price

    @property
    def equity(self) -> Decimal:
        with localcontext(_CTX):
            return self.cash + sum((p.market_value for p in self.positions.values()), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        with localcontext(_CTX):
            return sum((p.unrealized_pnl for p in self.positions.values()), ZERO)

    def gross_exposure(self) -> Decimal:
        with localcontext(_CTX):
            return sum((abs(p.market_value) for p in self.positions.values()), ZERO)

    def open_positions(self) -> Iterable[Position]:
        return (self.positions[s] for s in sorted(self.positions) if self.positions[s].quantity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cash": str(self.cash),
            "commissions": str(self.commissions),
            "realized_pnl": str(self.realized_pnl),
            "fills": self.fills,
            "positions": [self.positions[s].to_dict() for s in sorted(self.positions)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        ledger = cls(
            cash=Decimal(data["cash"]),
            commissions=Decimal(data["commissions"]),
            realized_pnl=Decimal(data["realized_pnl"]),
            fills=int(data["fills"]),
        )
        for raw in data["positions"]:
            pos = Position.from_dict(raw)
            ledger.positions[pos.symbol] = pos
        return ledger
