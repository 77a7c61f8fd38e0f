"""Realised outcomes for the bandit: which emitted signal caused a fill, and what it earned.

The blender keeps every signal it emitted for ``signal_retention_bars`` with, per horizon, each
family's contribution share ``w_m s~_m / sum_j w_j s~_j`` and the bandit's probabilities at that
moment. A fill (an execution carrying ``order_event_time`` = the signal's event time) opens an
outcome keyed by client order id; later fills of the same order add to it. When the horizon has
elapsed in event time (a bar with ``event_time >= first fill time + horizon``) the realised net
return ``direction x (close / vwap - 1) x 1e4 - commission bps`` is split among the families by
their shares and fed to that horizon's bandit.

These are learning statistics, not money: floats are fine here (positions and PnL are the
executor's, in Decimal).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

BPS = 1e4


def realised_net_bps(direction: int, close: float, fill_price: float, commission_bps: float) -> float:
    return direction * (close / fill_price - 1.0) * BPS - commission_bps


def contribution_shares(weights: list[float], scores: list[float]) -> list[float]:
    """``w_m s~_m / sum_j w_j s~_j``; all zero when the blend is zero (nobody contributed)."""
    parts = [w * s for w, s in zip(weights, scores, strict=True)]
    total = sum(parts)
    if total == 0.0:
        return [0.0] * len(parts)
    return [p / total for p in parts]


@dataclass(slots=True)
class Attribution:
    families: list[str]
    shares: list[float]
    # The bandit's probability of each family when the signal was made (Exp3-IX's p_i).
    probabilities: list[float]

    def rewards(self, net_bps: float) -> dict[str, float]:
        return {f: s * net_bps for f, s in zip(self.families, self.shares, strict=True) if s != 0.0}

    def played(self) -> dict[str, float]:
        return dict(zip(self.families, self.probabilities, strict=True))

    def to_list(self) -> list[Any]:
        return [self.families, self.shares, self.probabilities]

    @classmethod
    def from_list(cls, data: list[Any]) -> Attribution:
        """From :meth:`to_list` output freshly decoded (its lists are taken over, not copied)."""
        return cls(data[0], data[1], data[2])


class AttributionSource(Protocol):
    """What a tick's signals were made of, from which their attributions are derived."""

    def horizons(self) -> list[str]: ...

    def attribution(self, row: int, horizon: str) -> Attribution | None: ...


class LazyAttributions(Mapping[str, Attribution]):
    """One signal's attributions by horizon, derived from its tick's blend when asked.

    Only a signal that trades is ever asked (by its fills); building an Attribution for every
    signal and horizon made those objects most of the blender's live heap, which the garbage
    collector walked again and again."""

    __slots__ = ("_row", "_source")

    def __init__(self, source: AttributionSource, row: int) -> None:
        self._source, self._row = source, row

    def __getitem__(self, horizon: str) -> Attribution:
        attribution = self._source.attribution(self._row, horizon)
        if attribution is None:
            raise KeyError(horizon)
        return attribution

    def __iter__(self) -> Iterator[str]:
        return (h for h in self._source.horizons() if self._source.attribution(self._row, h) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def source(self) -> AttributionSource:
        return self._source

    def resolved(self) -> dict[str, Attribution]:
        """Every attribution, each derived once."""
        out = {}
        for horizon in self._source.horizons():
            attribution = self._source.attribution(self._row, horizon)
            if attribution is not None:
                out[horizon] = attribution
        return out


def _resolved(horizons: Mapping[str, Attribution]) -> dict[str, Attribution]:
    return horizons.resolved() if isinstance(horizons, LazyAttributions) else dict(horizons)


@dataclass(slots=True)
class SignalRecord:
    event_time: datetime
    chosen_horizon: str | None
    horizons: Mapping[str, Attribution]
    # Client order ids already attributed, so a fill after maturity cannot reopen an outcome
    # (a tuple: most signals never trade, and an empty tuple is free).
    orders: tuple[str, ...] = ()


@dataclass(slots=True)
class Outcome:
    client_order_id: str
    horizon: str
    direction: int
    opened_at: datetime
    mature_at: datetime
    quantity: float
    notional: float
    commission: float
    trade_ids: list[str]
    attribution: Attribution

    def net_bps(self, close: float) -> float:
        vwap = self.notional / self.quantity
        commission_bps = self.commission / self.notional * BPS
        return realised_net_bps(self.direction, close, vwap, commission_bps)


@dataclass(frozen=True, slots=True)
class Fill:
    """The parts of an execution the attribution needs."""

    symbol: str
    client_order_id: str
    trade_id: str
    direction: int
    horizon: str | None
    order_event_time: datetime
    event_time: datetime
    quantity: float
    price: float
    commission: float


@dataclass(frozen=True, slots=True)
class Realised:
    horizon: str
    client_order_id: str
    net_bps: float
    rewards: dict[str, float]
    played: dict[str, float]


class OutcomeBook:
    def __init__(self) -> None:
        self.signals: dict[str, dict[datetime, SignalRecord]] = {}
        self.pending: dict[str, dict[str, Outcome]] = {}
        self.unattributed = 0

    def record_signal(self, symbol: str, record: SignalRecord, retention: timedelta) -> None:
        book = self.signals.setdefault(symbol, {})
        book[record.event_time] = record
        horizon_start = record.event_time - retention
        for t in [t for t in book if t < horizon_start]:
            del book[t]

    def on_fill(self, fill: Fill, horizon_delta: dict[str, timedelta]) -> bool:
        """Add a fill to its outcome, opening one if the fill's signal is known. False: ignored."""
        pending = self.pending.setdefault(fill.symbol, {})
        outcome = pending.get(fill.client_order_id)
        if outcome is not None:
            if fill.trade_id in outcome.trade_ids:
                return False
            outcome.trade_ids.append(fill.trade_id)
            outcome.quantity += fill.quantity
            outcome.notional += fill.quantity * fill.price
            outcome.commission += fill.commission
            return True
        record = self.signals.get(fill.symbol, {}).get(fill.order_event_time)
        horizon = fill.horizon or (record.chosen_horizon if record else None)
        if (
            record is None
            or fill.client_order_id in record.orders
            or horizon not in horizon_delta
            or horizon not in record.horizons
        ):
            self.unattributed += 1
            return False
        record.orders = (*record.orders, fill.client_order_id)
        pending[fill.client_order_id] = Outcome(
            client_order_id=fill.client_order_id,
            horizon=horizon,
            direction=fill.direction,
            opened_at=fill.event_time,
            mature_at=fill.event_time + horizon_delta[horizon],
            quantity=fill.quantity,
            notional=fill.quantity * fill.price,
            commission=fill.commission,
            trade_ids=[fill.trade_id],
            attribution=record.horizons[horizon],
        )
        return True

    def mature(self, symbol: str, event_time: datetime, close: float) -> list[Realised]:
        """Outcomes of ``symbol`` whose horizon has elapsed at ``event_time``, oldest first."""
        pending = self.pending.get(symbol)
        if not pending:
            return []
        due = sorted(
            (o for o in pending.values() if o.mature_at <= event_time),
            key=lambda o: (o.mature_at, o.client_order_id),
        )
        realised = []
        for outcome in due:
            del pending[outcome.client_order_id]
            net = outcome.net_bps(close)
            realised.append(
                Realised(
                    outcome.horizon,
                    outcome.client_order_id,
                    net,
                    outcome.attribution.rewards(net),
                    outcome.attribution.played(),
                )
            )
        return realised

    def pending_count(self) -> int:
        return sum(len(p) for p in self.pending.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "signals": {
                sym: [
                    [
                        t.isoformat(),
                        r.chosen_horizon,
                        {h: a.to_list() for h, a in sorted(_resolved(r.horizons).items())},
                        r.orders,
                    ]
                    for t, r in sorted(book.items())
                ]
                for sym, book in sorted(self.signals.items())
            },
            "pending": {
                sym: [
                    [
                        o.client_order_id,
                        o.horizon,
                        o.direction,
                        o.opened_at.isoformat(),
                        o.mature_at.isoformat(),
                        o.quantity,
                        o.notional,
                        o.commission,
                        o.trade_ids,
                        o.attribution.to_list(),
                    ]
                    for _, o in sorted(book.items())
                ]
                for sym, book in sorted(self.pending.items())
                if book
            },
            "unattributed": self.unattributed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutcomeBook:
        book = cls()
        for sym, rows in data["signals"].items():
            book.signals[sym] = {}
            for t, chosen, horizons, orders in rows:
                at = datetime.fromisoformat(t)
                attributions = {h: Attribution.from_list(a) for h, a in horizons.items()}
                book.signals[sym][at] = SignalRecord(at, chosen, attributions, tuple(orders))
        for sym, rows in data["pending"].items():
            book.pending[sym] = {}
            for coid, h, d, opened, mature, q, n, c, trades, attribution in rows:
                book.pending[sym][coid] = Outcome(
                    coid,
                    h,
                    int(d),
                    datetime.fromisoformat(opened),
                    datetime.fromisoformat(mature),
                    float(q),
                    float(n),
                    float(c),
                    list(trades),
                    Attribution.from_list(attribution),
                )
        book.unattributed = int(data["unattributed"])
        return book
