"""What ``/status`` and ``/portfolio`` show, built on request from a :class:`Capture`.

The worker thread takes a capture at the end of every tick and swaps it in whole, so HTTP threads
never read a half-updated engine; taking it copies references only (O(1), plus a dict copy of the
positions and working orders), and the JSON-ready dicts, with their O(positions) string formatting,
are built once per capture, only when someone asks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from ridgeline_risk.config import RiskLimits
from ridgeline_risk.guardrails import Guardrails
from ridgeline_risk.portfolio import exposures
from ridgeline_risk.sizing import fraction
from ridgeline_shared.accounting import ZERO, Ledger
from ridgeline_shared.messages import TradingState


def ratio(numerator: Decimal, denominator: Decimal) -> float:
    return fraction(numerator, denominator) if denominator > 0 else 0.0


class Capture(NamedTuple):
    """The engine at the end of a tick. Nothing in it is changed afterwards: the ledger's
    positions and the guardrails are copies, the rest immutable or fresh."""

    state: TradingState
    flattening: bool
    last_tick: datetime | None
    equity: Decimal
    ledger: Ledger
    working: dict[str, tuple[str, Decimal]]  # client order id -> (symbol, remaining)
    guard: Guardrails
    denials: dict[str, int]
    counters: dict[str, int]
    limits: RiskLimits


def status_view(c: Capture) -> dict[str, Any]:
    guard, value = c.guard, c.equity
    gross, net = exposures(c.ledger)
    return {
        "trading_state": c.state.value,
        "flattening": c.flattening,
        "last_tick": None if c.last_tick is None else c.last_tick.isoformat(),
        "equity": str(value),
        "cash": str(c.ledger.cash),
        "exposure": {
            "gross": str(gross),
            "net": str(net),
            "gross_pct": ratio(gross, value),
            "net_pct": ratio(net, value),
        },
        "positions": {p.symbol: str(p.quantity) for p in c.ledger.open_positions()},
        "working_orders": len(c.working),
        "drawdown": guard.drawdown,
        "peak_equity": str(guard.peak),
        "daily_pnl": str(guard.daily_pnl),
        "daily_loss": guard.daily_loss,
        "start_of_day": str(guard.start_of_day),
        "session": None if guard.session is None else guard.session.isoformat(),
        "denials": dict(sorted(c.denials.items())),
        "counters": dict(c.counters),
        "limits": c.limits.model_dump(mode="json"),
    }


def portfolio_view(c: Capture) -> dict[str, Any]:
    ledger, value = c.ledger, c.equity
    working: dict[str, Decimal] = {}
    for symbol, remaining in c.working.values():
        working[symbol] = working.get(symbol, ZERO) + remaining
    positions = {}
    for pos in ledger.open_positions():
        positions[pos.symbol] = {
            "quantity": str(pos.quantity),
            "avg_price": None if pos.avg_price is None else str(pos.avg_price),
            "last_price": None if pos.last_price is None else str(pos.last_price),
            "market_value": str(pos.market_value),
            "weight": ratio(pos.market_value, value),
            "unrealized_pnl": str(pos.unrealized_pnl),
            "realized_pnl": str(pos.realized_pnl),
            "working": str(working.get(pos.symbol, ZERO)),
        }
    return {
        "cash": str(ledger.cash),
        "equity": str(value),
        "realized_pnl": str(ledger.realized_pnl),
        "unrealized_pnl": str(ledger.unrealized_pnl),
        "commissions": str(ledger.commissions),
        "fills": ledger.fills,
        "positions": positions,
        "working_orders": {
            coid: {"symbol": symbol, "remaining": str(remaining)}
            for coid, (symbol, remaining) in sorted(c.working.items())
        },
    }


class Views:
    """The views of one capture, each built at its first request and kept."""

    __slots__ = ("_built", "_lock", "capture")

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self._built: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _get(self, name: str, build: Callable[[Capture], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            view = self._built.get(name)
            if view is None:
                view = self._built[name] = build(self.capture)
            return view

    def status(self) -> dict[str, Any]:
        return self._get("status", status_view)

    def portfolio(self) -> dict[str, Any]:
        return self._get("portfolio", portfolio_view)

    def limits(self) -> dict[str, Any]:
        return self._get("limits", lambda c: c.limits.model_dump(mode="json"))
