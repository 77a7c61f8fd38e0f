"""The executor's state (pure): its orders, its exact ledger, and what it has already done.

Accounting goes through :class:`ridgeline_shared.accounting.Ledger`: netting positions, cash,
realised PnL ``(exit - entry) x closed quantity`` against the average entry price, unrealised PnL
against the last price, commissions, all ``Decimal`` in a 60-digit context, so the books of any
sequence of fills equal a ledger kept by hand to the last digit. A fill moves money only through
:meth:`Book.book_fill`, which books it on the order and in the ledger together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ridgeline_executor.orders.order import FillRecord, Order, OrderEvent
from ridgeline_shared.accounting import Ledger, Position


@dataclass(slots=True)
class Book:
    orders: dict[str, Order] = field(default_factory=dict)
    # None until the first reconciliation opens it from the venue's account.
    ledger: Ledger | None = None
    # The last tick whose outputs were produced (reconciliation's freshness reference).
    last_tick: datetime | None = None
    # Risk commands already carried out (redelivered ones are ignored), oldest first.
    commands: list[str] = field(default_factory=list)
    # Operator commands so far: makes the ids of orders they create deterministic.
    operator_commands: int = 0
    # Serialised orders by client id, valid while (events, published, logged) are unchanged: an
    # order changes only through a new event or a counter, so the per-tick snapshot re-encodes
    # only the orders that changed.
    _encoded: dict[str, tuple[tuple[int, int, int], str]] = field(default_factory=dict, repr=False)

    def add(self, order: Order) -> None:
        self.orders[order.client_order_id] = order

    def working(self) -> Iterator[Order]:
        return (self.orders[c] for c in sorted(self.orders) if self.orders[c].working)

    def positions(self) -> dict[str, Decimal]:
        if self.ledger is None:
            return {}
        return {p.symbol: p.quantity for p in self.ledger.open_positions()}

    def book_fill(self, order: Order, fill: FillRecord) -> OrderEvent:
        """Book a fill on the order (raises DuplicateFillError / OverfillError / InvalidTransitionError with
        nothing changed) and then in the ledger."""
        if self.ledger is None:
            raise RuntimeError("the ledger is not open yet (no reconciliation with the venue so far)")
        event = order.apply_fill(fill)
        self.ledger.apply_fill(order.symbol, order.sign * fill.quantity, fill.price, fill.commission)
        return event

    def remember_command(self, command_id: str, window: int) -> bool:
        """False if the command was already carried out."""
        if command_id in self.commands:
            return False
        self.commands.append(command_id)
        del self.commands[:-window]
        return True

    def prune(self, retain_closed: int) -> None:
        """Forget closed orders beyond the newest ``retain_closed`` once fully published and
        logged (the Redis log keeps them)."""
        done = [
            cid
            for cid, o in self.orders.items()
            if o.terminal and o.published == len(o.events) and o.logged == len(o.events)
        ]
        for cid in done[: max(0, len(done) - retain_closed)]:
            del self.orders[cid]

    def encode(self) -> bytes:
        """The snapshot: JSON equal to ``json.dumps(self.to_dict())``, re-encoding only changed orders."""
        parts = []
        cache: dict[str, tuple[tuple[int, int, int], str]] = {}
        for cid, order in self.orders.items():
            key = (len(order.events), order.published, order.logged)
            hit = self._encoded.get(cid)
            text = hit[1] if hit is not None and hit[0] == key else json.dumps(order.to_dict())
            cache[cid] = (key, text)
            parts.append(text)
        self._encoded = cache
        rest = json.dumps(self.to_dict(orders=False))
        return ('{"orders": [' + ", ".join(parts) + "], " + rest[1:]).encode()

    def to_dict(self, orders: bool = True) -> dict[str, Any]:
        return {
            **({"orders": [o.to_dict() for o in self.orders.values()]} if orders else {}),
            "ledger": None if self.ledger is None else self.ledger.to_dict(),
            "last_tick": None if self.last_tick is None else self.last_tick.isoformat(),
            "commands": list(self.commands),
            "operator_commands": self.operator_commands,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Book:
        book = cls(
            ledger=None if data.get("ledger") is None else Ledger.from_dict(data["ledger"]),
            last_tick=datetime.fromisoformat(data["last_tick"]) if data.get("last_tick") else None,
            commands=list(data.get("commands", [])),
            operator_commands=int(data.get("operator_commands", 0)),
        )
        for raw in data.get("orders", []):
            book.add(Order.from_dict(raw))
        return book


def dec(value: Decimal | None) -> str | None:
    """Exact decimal as plain text without trailing zeros (``0E-8`` -> ``0``)."""
    return None if value is None else format(value.normalize(), "f")


def position_view(position: Position) -> dict[str, Any]:
    return {
        "symbol": position.symbol,
        "quantity": dec(position.quantity),
        "avg_entry_price": dec(position.avg_price),
        "cost": dec(position.cost),
        "last_price": dec(position.last_price),
        "market_value": dec(position.market_value),
        "unrealized_pnl": dec(position.unrealized_pnl),
        "realized_pnl": dec(position.realized_pnl),
    }


def account_view(ledger: Ledger) -> dict[str, Any]:
    return {
        "cash": dec(ledger.cash),
        "equity": dec(ledger.equity),
        "realized_pnl": dec(ledger.realized_pnl),
        "unrealized_pnl": dec(ledger.unrealized_pnl),
        "commissions": dec(ledger.commissions),
        "gross_exposure": dec(ledger.gross_exposure()),
        "fills": ledger.fills,
    }
