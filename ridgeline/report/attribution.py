"""Per-horizon and per-family PnL attribution, pure and exact (Decimal).

Rule (FIFO lots):
- Every fill is tagged with its horizon (``Execution.horizon``) and a family split: the final
  weights ``FamilyWeight.final`` of that horizon in the signal that caused the order (the signal
  of the fill's symbol at the order's event time), normalised to sum 1. A family's calibrated
  score is not in the signal, so weights, not score contributions, split the PnL.
- The opening part of a fill opens a lot carrying the fill's horizon and split. The closing part
  closes the oldest lots first (FIFO): ``(exit - entry) x closed quantity`` of each lot is
  realised PnL of *the lot's* horizon and families, not of the fill that closed it. Lots still
  open at the end are marked at the last price (the price of the report's final equity), and
  that unrealised PnL also goes to the lots' horizons and families.
- A fill's commission is charged to the fill's own horizon and split: the decision that traded
  pays for trading.
- Fills with no horizon (a flatten or an operator's order) or no signal with positive weights go
  to ``unattributed``.
Realised plus unrealised minus commissions summed over horizons (or over families) equals final
equity minus initial cash to the last digit: family shares are rounded to 1e-24 except the last
family's, which takes the remainder. FIFO realised PnL differs from the ledger's average-cost
realised PnL while positions are open; their totals with unrealised PnL are equal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from ridgeline.report.fills import FillEvent, extract_fills
from ridgeline.report.run_data import RunData
from ridgeline_shared.accounting import ZERO, to_decimal
from ridgeline_shared.intervals import parse_minutes
from ridgeline_shared.messages import Signal

UNATTRIBUTED = "unattributed"
SHARE_QUANTUM = Decimal("1e-24")
_CTX = Context(prec=90, rounding=ROUND_HALF_EVEN)

Split = tuple[tuple[str, Decimal], ...]


@dataclass(slots=True)
class PnlBucket:
    realized: Decimal = ZERO
    unrealized: Decimal = ZERO
    commission: Decimal = ZERO
    # Fills charged to this bucket (its own fills, or fills whose split includes the family).
    fills: int = 0
    traded_notional: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        with localcontext(_CTX):
            return self.realized + self.unrealized - self.commission


@dataclass(frozen=True, slots=True)
class Attribution:
    per_horizon: dict[str, PnlBucket]
    per_family: dict[str, PnlBucket]
    # Sum over horizons: final equity minus initial cash of the same fills and marks.
    total_pnl: Decimal


@dataclass(slots=True)
class _Lot:
    quantity: Decimal  # signed, remaining
    price: Decimal
    horizon: str
    split: Split


@dataclass(slots=True)
class _Book:
    horizons: dict[str, PnlBucket] = field(default_factory=dict)
    families: dict[str, PnlBucket] = field(default_factory=dict)

    def horizon(self, name: str) -> PnlBucket:
        return self.horizons.setdefault(name, PnlBucket())

    def family(self, name: str) -> PnlBucket:
        return self.families.setdefault(name, PnlBucket())


def horizon_order(name: str) -> tuple[int, str]:
    """Horizons by length (5m before 10m before 1d), anything else after them by name."""
    try:
        return (parse_minutes(name), name)
    except ValueError:
        return (1 << 30, name)


def family_split(weights: Mapping[str, float]) -> Split:
    """Normalised positive weights, sorted by family; ``unattributed`` when none is positive."""
    positive = {f: to_decimal(w) for f, w in sorted(weights.items()) if w > 0}
    total = sum(positive.values(), ZERO)
    if not positive or total <= 0:
        return ((UNATTRIBUTED, Decimal(1)),)
    with localcontext(_CTX):
        return tuple((f, w / total) for f, w in positive.items())


def split_amount(amount: Decimal, split: Split) -> list[tuple[str, Decimal]]:
    """Shares of ``amount`` summing to it exactly: the last family takes the remainder."""
    out: list[tuple[str, Decimal]] = []
    given = ZERO
    with localcontext(_CTX):
        for family, fraction in split[:-1]:
            share = (amount * fraction).quantize(SHARE_QUANTUM)
            out.append((family, share))
            given += share
        out.append((split[-1][0], amount - given))
    return out


def _signal_split(fill: FillEvent, signals: Mapping[tuple[str, datetime], Signal]) -> Split:
    signal = signals.get((fill.symbol, fill.order_event_time)) if fill.order_event_time else None
    if signal is None or fill.horizon is None:
        return family_split({})
    chosen = next((h for h in signal.horizons if h.horizon == fill.horizon), None)
    if chosen is None:
        chosen = next((h for h in signal.horizons if h.horizon == signal.chosen_horizon), None)
    if chosen is None:
        return family_split({})
    return family_split({w.family: w.final for w in chosen.weights})


def _charge(book: _Book, horizon: str, split: Split, kind: str, amount: Decimal) -> None:
    with localcontext(_CTX):
        bucket = book.horizon(horizon)
        setattr(bucket, kind, getattr(bucket, kind) + amount)
        for family, share in split_amount(amount, split):
            fam = book.family(family)
            setattr(fam, kind, getattr(fam, kind) + share)


def attribute(run: RunData, marks: Mapping[str, Decimal]) -> Attribution:
    """Attribute the PnL of ``run``'s fills, open lots marked at ``marks`` (symbol -> last price,
    e.g. ``Replay.marks``); a symbol without a mark keeps its lots at their entry price."""
    fills = extract_fills(run.executions, run.orders)
    signals = {(s.symbol, s.event_time): s for s in run.signals}
    lots: dict[str, deque[_Lot]] = {}
    book = _Book()
    with localcontext(_CTX):
        for fill in sorted(fills.events, key=lambda f: f.time):
            horizon = fill.horizon or UNATTRIBUTED
            split = _signal_split(fill, signals)
            own = book.horizon(horizon)
            own.fills += 1
            own.traded_notional += fill.notional
            for family, share in split_amount(fill.notional, split):
                fam = book.family(family)
                fam.fills += 1
                fam.traded_notional += share
            _charge(book, horizon, split, "commission", fill.commission)
            queue = lots.setdefault(fill.symbol, deque())
            remaining = fill.signed_qty
            while remaining and queue and (queue[0].quantity > 0) != (remaining > 0):
                lot = queue[0]
                closed = min(abs(remaining), abs(lot.quantity))
                direction = Decimal(1) if lot.quantity > 0 else Decimal(-1)
                _charge(
                    book, lot.horizon, lot.split, "realized", direction * closed * (fill.price - lot.price)
                )
                lot.quantity -= direction * closed
                remaining += direction * closed
                if not lot.quantity:
                    queue.popleft()
            if remaining:
                queue.append(_Lot(remaining, fill.price, horizon, split))
        for symbol in sorted(lots):
            for lot in lots[symbol]:
                mark = marks.get(symbol, lot.price)
                _charge(book, lot.horizon, lot.split, "unrealized", lot.quantity * (mark - lot.price))
        total = sum((b.total for b in book.horizons.values()), ZERO)
    return Attribution(
        per_horizon={h: book.horizons[h] for h in sorted(book.horizons, key=horizon_order)},
        per_family={f: book.families[f] for f in sorted(book.families, key=lambda f: (f == UNATTRIBUTED, f))},
        total_pnl=total,
    )
