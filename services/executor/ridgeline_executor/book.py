"""The executor's state (pure): its orders, its exact ledger, and what it has already done.

Accounting goes through :class:`ridgeline_shared.accounting.Ledger`: netting positions, cash,
realised PnL ``(exit - entry) x closed quantity`` against the average entry price, unrealised PnL
against the last price, commissions, all ``Decimal`` in a 60-digit context, so the books of any
sequence of fills equal a ledger kept by hand to the last digit. A fill moves money only through
:meth:`Book.book_fill`, which books it on the order and in the ledger together.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ridgeline_executor.orders.order import FillRecord, Order, OrderEvent
from ridgeline_shared.accounting import Ledger, Position

if TYPE_CHECKING:
    from ridgeline_executor.store import OrderLog

log = logging.getLogger("ridgeline.executor")


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
    # Client ids of the orders not seen closed yet, and of the closed ones not seen fully
    # published and logged yet; every other order kept is done (closed, published, logged),
    # which it stays. The working orders and the prunable ones are found through these,
    # without looking at every order kept.
    _unclosed: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _closing: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    # Orders a restored snapshot names, until :meth:`resolve` loads them from the order log.
    _refs: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._unclosed.update(self.orders)

    def add(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        self._unclosed.add(order.client_order_id)

    def working(self) -> list[Order]:
        """The working orders, by client id."""
        out = []
        for cid in sorted(self._unclosed):
            order = self.orders.get(cid)
            if order is None or order.terminal:
                self._unclosed.discard(cid)
                if order is not None:
                    self._closing.add(cid)
            elif order.working:
                out.append(order)
        return out

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
        logged (the Redis log keeps them): the oldest done ones, in the order they were added."""
        self.working()  # moves the orders closed since into _closing
        for cid in list(self._closing):
            order = self.orders.get(cid)
            if order is None or (order.published == len(order.events) and order.logged == len(order.events)):
                self._closing.discard(cid)
        excess = len(self.orders) - len(self._unclosed) - len(self._closing) - retain_closed
        if excess <= 0:
            return
        pending = self._unclosed | self._closing
        doomed = []
        for cid in self.orders:
            if cid not in pending:
                doomed.append(cid)
                if len(doomed) == excess:
                    break
        for cid in doomed:
            del self.orders[cid]

    def encode(self) -> bytes:
        """The snapshot. Orders appear by client id only: their records are the order log's,
        which every change of an order reaches in the transaction that commits the snapshot
        (:meth:`Executor.flush`), so a tick writes the orders it changed, not every order kept.
        :meth:`resolve` reads them back."""
        rest = json.dumps(self.to_dict(orders=False))
        return ('{"orders": ' + json.dumps([*self._refs, *self.orders]) + ", " + rest[1:]).encode()

    def resolve(self, store: OrderLog) -> None:
        """Load the orders a restored snapshot names from the order log, in their order."""
        refs, self._refs = self._refs, []
        loaded = store.load_many(refs) if refs else {}
        for cid in refs:
            order = loaded[cid]
            if order is None:
                log.error("order %s of the snapshot is not in the order log: dropped", cid)
            else:
                self.add(order)

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
            if isinstance(raw, str):
                book._refs.append(raw)
            else:  # a snapshot of an earlier version holds whole records
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
