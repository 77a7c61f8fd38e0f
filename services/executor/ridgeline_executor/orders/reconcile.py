"""Reconciliation planning (pure): compare our orders and positions with the venue's reports and
say what to do. The engine does the I/O (asking the venue) and applies the actions in order.

Two steps, because asking is I/O: :func:`orders_to_query` names the working orders the venue's
open-order list does not explain (closed meanwhile, or never received), then :func:`plan` turns
the reports into actions:

- the venue knows the order: acknowledge it if we never saw the acknowledgement, book the fills
  we missed (the venue's own trade ids; where it reports only a cumulative quantity, a synthesised
  fill priced so the cumulative average matches, with the deterministic id
  ``ids.trade_id(venue, client order id, n)``, n = fills booked before it), then adopt its final
  status;
- the venue never received it: a write-ahead record of an uncommitted tick is forgotten (the tick's
  input is redelivered and decides again); an in-flight order sent at the current tick is sent
  again (same client id: the venue refuses a second copy); anything older is closed as EXPIRED;
- positions (after the planned fills) and cash that still differ are reported, never adjusted:
  the venue is the truth, and a difference means activity we did not cause, for an operator.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from ridgeline_executor.brokers.base import BrokerOrder
from ridgeline_executor.money import PREC, commission
from ridgeline_executor.orders.order import FillRecord, Order, fits_message, quantize_message
from ridgeline_executor.orders.state import is_terminal
from ridgeline_shared.accounting import ZERO
from ridgeline_shared.ids import trade_id
from ridgeline_shared.messages.enums import OrderStatus

S = OrderStatus


@dataclass(frozen=True, slots=True)
class QueryOrder:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ApplyStatus:
    client_order_id: str
    status: OrderStatus
    reason: str = ""
    venue_order_id: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApplyFill:
    client_order_id: str
    fill: FillRecord


@dataclass(frozen=True, slots=True)
class Resubmit:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class Forget:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ReportDifference:
    kind: str  # order | fill | position | cash | foreign_order
    key: str
    local: str
    broker: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "key": self.key,
            "local": self.local,
            "broker": self.broker,
            "detail": self.detail,
        }


Action = QueryOrder | ApplyStatus | ApplyFill | Resubmit | Forget | ReportDifference


@dataclass(frozen=True, slots=True)
class Fees:
    """Commission booked on synthesised fills (the venue did not say)."""

    bps: Decimal = ZERO
    quantum: Decimal = Decimal("1e-12")


def orders_to_query(orders: Iterable[Order], broker_open: Collection[str]) -> list[QueryOrder]:
    """Working orders absent from the venue's open list: closed meanwhile, or never received."""
    return [
        QueryOrder(o.client_order_id)
        for o in sorted(orders, key=lambda o: o.client_order_id)
        if o.working and o.client_order_id not in broker_open
    ]


def plan_order(
    order: Order, report: BrokerOrder | None, *, venue: str, last_tick: datetime | None, fees: Fees = Fees()
) -> list[Action]:
    """Actions that bring one local order in line with the venue's report of it."""
    cid = order.client_order_id
    if is_terminal(order.status) or order.status in (S.INITIALIZED, S.DENIED):
        return []
    if report is None:
        return _unknown_to_venue(order, last_tick)
    actions: list[Action] = []
    status = order.status
    if report.status is S.REJECTED:
        if status is S.SUBMITTED:
            reason = report.reason or "rejected by the venue"
            return [ApplyStatus(cid, S.REJECTED, reason, report.venue_order_id, order.submit_tick)]
        return [
            ReportDifference(
                "order", cid, status.value, report.status.value, "venue rejected a working order"
            )
        ]
    if status is S.SUBMITTED and report.status is not S.SUBMITTED:
        actions.append(ApplyStatus(cid, S.ACCEPTED, "", report.venue_order_id, order.submit_tick))
    filled, notional, n = order.filled_quantity, order.filled_notional, len(order.trade_ids)
    known = set(order.trade_ids)
    for fill in report.fills:
        if fill.trade_id in known:
            continue
        record = fits_message(
            FillRecord(fill.trade_id, fill.quantity, fill.price, fill.commission, False, fill.bar_time)
        )
        if filled + record.quantity > order.quantity:
            actions.append(
                ReportDifference(
                    "fill", cid, str(filled), str(filled + record.quantity), f"overfill by {fill.trade_id}"
                )
            )
            break
        actions.append(ApplyFill(cid, record))
        known.add(fill.trade_id)
        with localcontext() as ctx:
            ctx.prec = PREC
            notional += record.quantity * record.price
        filled += record.quantity
        n += 1
    gap = report.filled_quantity - filled
    if gap > 0:
        synthetic = _synthesise(order, report, gap, notional, n, venue, fees)
        if isinstance(synthetic, ApplyFill):
            filled += gap
        actions.append(synthetic)
    elif gap < 0:
        actions.append(
            ReportDifference(
                "fill", cid, str(filled), str(report.filled_quantity), "venue reports less filled"
            )
        )
    projected = S.FILLED if filled == order.quantity else (S.PARTIALLY_FILLED if filled else status)
    if is_terminal(projected):
        return actions
    if report.status in (S.CANCELED, S.EXPIRED):
        actions.append(
            ApplyStatus(cid, report.status, report.reason or f"{report.status.value.lower()} by the venue")
        )
    elif report.status is S.PENDING_CANCEL and projected in (S.ACCEPTED, S.PARTIALLY_FILLED):
        actions.append(ApplyStatus(cid, S.PENDING_CANCEL, "cancel pending at the venue"))
    elif report.status is S.FILLED:
        actions.append(
            ReportDifference(
                "fill", cid, str(filled), str(report.filled_quantity), "venue says filled, cumulative short"
            )
        )
    return actions


def _unknown_to_venue(order: Order, last_tick: datetime | None) -> list[Action]:
    cid = order.client_order_id
    if order.status is S.SUBMITTED:
        if order.recovered and order.published == 0:
            return [Forget(cid)]
        if last_tick is None or order.submit_tick is None or order.submit_tick >= last_tick:
            return [Resubmit(cid)]
        return [
            ReportDifference(
                "order", cid, order.status.value, "unknown", "sent but never received by the venue"
            ),
            ApplyStatus(cid, S.EXPIRED, "never reached the venue; expired at reconciliation"),
        ]
    final = S.CANCELED if order.status is S.PENDING_CANCEL else S.EXPIRED
    return [
        ReportDifference("order", cid, order.status.value, "unknown", "working order unknown to the venue"),
        ApplyStatus(cid, final, "unknown to the venue at reconciliation"),
    ]


def _synthesise(
    order: Order, report: BrokerOrder, gap: Decimal, notional: Decimal, n: int, venue: str, fees: Fees
) -> Action:
    """The fill behind a cumulative quantity we have not booked, priced so the averages agree."""
    cid = order.client_order_id
    if order.filled_quantity + gap > order.quantity or report.filled_quantity > order.quantity:
        return ReportDifference(
            "fill", cid, str(order.quantity), str(report.filled_quantity), "venue overfilled"
        )
    if report.avg_fill_price is None or report.avg_fill_price <= 0:
        return ReportDifference(
            "fill", cid, str(order.filled_quantity), str(report.filled_quantity), "no fill price"
        )
    with localcontext() as ctx:
        ctx.prec = PREC
        price = quantize_message((report.filled_quantity * report.avg_fill_price - notional) / gap)
    if price <= 0:
        price = quantize_message(report.avg_fill_price)
    record = FillRecord(
        trade_id=trade_id(venue, cid, n),
        quantity=gap,
        price=price,
        commission=commission(gap, price, fees.bps, fees.quantum),
        synthetic=True,
    )
    return ApplyFill(cid, record)


def plan(
    orders: Mapping[str, Order],
    reports: Mapping[str, BrokerOrder | None],
    *,
    venue: str,
    last_tick: datetime | None,
    fees: Fees = Fees(),
    broker_open: Collection[str] = (),
    local_positions: Mapping[str, Decimal] | None = None,
    broker_positions: Mapping[str, Decimal] | None = None,
    local_cash: Decimal | None = None,
    broker_cash: Decimal | None = None,
) -> list[Action]:
    """Every action of one reconciliation, in a deterministic order (by client order id, then
    position and cash differences by symbol). ``reports`` holds the venue's report of every
    working local order (None: unknown to the venue); positions and cash are compared after the
    planned fills when both sides are given."""
    actions: list[Action] = []
    for cid in sorted(orders):
        order = orders[cid]
        if order.working:
            actions.extend(plan_order(order, reports.get(cid), venue=venue, last_tick=last_tick, fees=fees))
    for cid in sorted(set(broker_open) - set(orders)):
        actions.append(
            ReportDifference("foreign_order", cid, "unknown", "open", "open at the venue, not ours")
        )
    if local_positions is not None and broker_positions is not None:
        projected = dict(local_positions)
        cash = local_cash
        with localcontext() as ctx:
            ctx.prec = PREC
            for action in actions:
                if isinstance(action, ApplyFill):
                    order = orders[action.client_order_id]
                    signed = order.sign * action.fill.quantity
                    projected[order.symbol] = projected.get(order.symbol, ZERO) + signed
                    if cash is not None:
                        cash -= signed * action.fill.price + action.fill.commission
        actions.extend(compare_positions(projected, broker_positions))
        if cash is not None and broker_cash is not None and cash != broker_cash:
            actions.append(ReportDifference("cash", "cash", str(cash), str(broker_cash)))
    return actions


def compare_positions(local: Mapping[str, Decimal], broker: Mapping[str, Decimal]) -> list[ReportDifference]:
    out = []
    for symbol in sorted(set(local) | set(broker)):
        mine, theirs = local.get(symbol, ZERO), broker.get(symbol, ZERO)
        if mine != theirs:
            out.append(ReportDifference("position", symbol, str(mine), str(theirs)))
    return out
