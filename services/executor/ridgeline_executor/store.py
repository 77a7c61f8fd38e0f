"""The executor's order log in Redis, under ``keys.service_state("executor", ...)``:

- ``records``: a hash, client id -> the order's JSON (its status, fills and every event, in
  sequence order), so a tick writes each order it changed with one field of one HSET;
- ``open``: the client ids not yet closed; ``orders``: every client id, scored by event time;
- ``trades``: every trade id booked (fills are deduplicated by it); ``fills``: recent fills;
- ``reconciliation``: recent differences found by reconciliation.

Two ways in. The *write-ahead* (:meth:`OrderStore.write_ahead`) is written directly, before the
venue hears of an order, so a crash between sending and committing leaves a record that the
restarted executor finds and asks the venue about. Everything else is a *commit op*
(:meth:`OrderStore.commit_op`) queued into the tick's MULTI/EXEC with the executions it explains,
so the log never runs ahead of the stream or the snapshot.

:class:`MemoryOrderStore` is the same log in memory for the in-process backtest (no Redis): there
is no crash to survive there and no transaction to join, so its commit applies at once.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from redis import Redis
from redis.client import Pipeline

from ridgeline_executor.orders.order import Order, OrderEvent
from ridgeline_shared.keys import Keys

SERVICE = "executor"

CommitOp = Callable[[Pipeline], None]


class OrderLog(Protocol):
    """What the engine and the routes need of the order log (Redis or memory)."""

    def load(self, client_order_id: str) -> Order | None: ...
    def load_many(self, client_order_ids: list[str]) -> dict[str, Order | None]: ...
    def may_hold(self, event_time: datetime) -> bool:
        """False only if the log cannot hold an order of this event time (all are older)."""
        ...

    def open_ids(self) -> list[str]: ...
    def events(self, client_order_id: str) -> list[dict[str, Any]]: ...
    def trade_known(self, trade_id: str) -> bool: ...
    def recent_fills(self, limit: int) -> list[dict[str, Any]]: ...
    def recent_reports(self, limit: int) -> list[dict[str, Any]]: ...
    def write_ahead(self, order: Order) -> None: ...
    def write_ahead_many(self, orders: list[Order]) -> None: ...
    def forget(self, client_order_id: str) -> None: ...
    def commit_op(
        self,
        orders: Iterable[Order],
        fills: Iterable[dict[str, Any]] = (),
        reports: Iterable[dict[str, Any]] = (),
    ) -> CommitOp | None:
        """The tick's log writes: an op for its transaction, or None when already written."""
        ...


class OrderStore:
    def __init__(
        self, redis: Redis, keys: Keys, retain_fills: int = 100_000, retain_reports: int = 10_000
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.retain_fills = retain_fills
        self.retain_reports = retain_reports
        # The latest event time (score) of any order in the log when first asked (None: not
        # yet), and of any order this process wrote (raised before the write lands): requests
        # made after both are new, which spares a tick's log lookup.
        self._logged: float | None = None
        self._written = float("-inf")

    def key(self, name: str) -> str:
        return self.keys.service_state(SERVICE, name)

    @property
    def records_key(self) -> str:
        return self.key("records")

    def order_key(self, client_order_id: str) -> str:
        """Where an earlier version kept one order's record (read if ``records`` lacks it)."""
        return self.key(f"order:{client_order_id}")

    def events_key(self, client_order_id: str) -> str:
        """Where an earlier version kept one order's events (read if ``records`` lacks it)."""
        return self.key(f"events:{client_order_id}")

    @property
    def open_key(self) -> str:
        return self.key("open")

    @property
    def index_key(self) -> str:
        return self.key("orders")

    @property
    def trades_key(self) -> str:
        return self.key("trades")

    @property
    def fills_key(self) -> str:
        return self.key("fills")

    @property
    def reports_key(self) -> str:
        return self.key("reconciliation")

    # -- reads ---------------------------------------------------------------------------
    def load(self, client_order_id: str) -> Order | None:
        """The logged order (``logged``: its events, which the record holds, are all logged)."""
        return self.load_many([client_order_id])[client_order_id]

    def load_many(self, client_order_ids: list[str]) -> dict[str, Order | None]:
        """:meth:`load` for each, in one round trip (two for records of an earlier version)."""
        out: dict[str, Order | None] = dict.fromkeys(client_order_ids)
        if not client_order_ids:
            return out
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.records_key, client_order_ids)
        pipe.zmscore(self.index_key, client_order_ids)
        raws, scores = pipe.execute()
        legacy = []
        for cid, raw, score in zip(client_order_ids, raws, scores, strict=True):
            if raw is not None:
                order = out[cid] = Order.from_dict(json.loads(raw))
                order.logged = len(order.events)
            elif score is not None:
                legacy.append(cid)
        if legacy:
            out.update(self._load_legacy(legacy))
        return out

    def may_hold(self, event_time: datetime) -> bool:
        if self._logged is None:
            top = self.redis.zrange(self.index_key, -1, -1, withscores=True)
            self._logged = float(top[0][1]) if top else float("-inf")
        return event_time.timestamp() <= max(self._logged, self._written)

    def _raise_newest(self, scores: Iterable[float]) -> None:
        self._written = max([self._written, *scores])

    def _load_legacy(self, client_order_ids: list[str]) -> dict[str, Order | None]:
        pipe = self.redis.pipeline(transaction=False)
        for cid in client_order_ids:
            pipe.hget(self.order_key(cid), "record")
            pipe.llen(self.events_key(cid))
        replies = pipe.execute()
        out: dict[str, Order | None] = {}
        for i, cid in enumerate(client_order_ids):
            raw, length = replies[2 * i], replies[2 * i + 1]
            order = None
            if raw is not None:
                order = Order.from_dict(json.loads(raw))
                order.logged = int(length)
            out[cid] = order
        return out

    def open_ids(self) -> list[str]:
        return sorted(m.decode() if isinstance(m, bytes) else m for m in self.redis.smembers(self.open_key))

    def events(self, client_order_id: str) -> list[dict[str, Any]]:
        raw = self.redis.hget(self.records_key, client_order_id)
        if raw is not None:
            return list(json.loads(raw)["events"])
        return [json.loads(e) for e in self.redis.lrange(self.events_key(client_order_id), 0, -1)]

    def trade_known(self, trade_id: str) -> bool:
        return bool(self.redis.sismember(self.trades_key, trade_id))

    def recent_fills(self, limit: int) -> list[dict[str, Any]]:
        raws = self.redis.lrange(self.fills_key, -limit, -1) if limit > 0 else []
        return [json.loads(raw) for raw in reversed(raws)]

    def recent_reports(self, limit: int) -> list[dict[str, Any]]:
        raws = self.redis.lrange(self.reports_key, -limit, -1) if limit > 0 else []
        return [json.loads(raw) for raw in reversed(raws)]

    # -- writes --------------------------------------------------------------------------
    def write_ahead(self, order: Order) -> None:
        """Record the order as sent, durably, before it is sent."""
        self.write_ahead_many([order])

    def write_ahead_many(self, orders: list[Order]) -> None:
        """:meth:`write_ahead` for each, in one transaction."""
        if not orders:
            return
        before = [order.logged for order in orders]
        for order in orders:
            order.logged = len(order.events)  # the record holds them (and its text is the snapshot's)
        self._raise_newest([o.event_time.timestamp() for o in orders])
        pipe = self.redis.pipeline(transaction=True)
        self._write(pipe, {o.client_order_id: o.encoded() for o in orders},
                    [o.client_order_id for o in orders if o.working], [],
                    {o.client_order_id: o.event_time.timestamp() for o in orders})  # fmt: skip
        try:
            pipe.execute()
        except BaseException:
            for order, logged in zip(orders, before, strict=True):
                order.logged = logged
            raise

    def forget(self, client_order_id: str) -> None:
        """Drop the write-ahead record of an order the venue never received (uncommitted tick)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.records_key, client_order_id)
        pipe.delete(self.order_key(client_order_id), self.events_key(client_order_id))
        pipe.srem(self.open_key, client_order_id)
        pipe.zrem(self.index_key, client_order_id)
        pipe.execute()

    def commit_op(
        self,
        orders: Iterable[Order],
        fills: Iterable[dict[str, Any]] = (),
        reports: Iterable[dict[str, Any]] = (),
    ) -> CommitOp:
        """A write of the given orders' new state, for the tick's transaction: one record each
        (with its events), whatever else the log holds.

        The payload is serialised now (and each order's ``logged`` advanced), so the op itself
        only writes what the handler decided.
        """
        records: dict[str, str] = {}
        opened: list[str] = []
        closed: list[str] = []
        scores: dict[str, float] = {}
        for order in orders:
            cid = order.client_order_id
            order.logged = len(order.events)
            records[cid] = order.encoded()
            (opened if order.working else closed).append(cid)
            scores[cid] = order.event_time.timestamp()
        fills = list(fills)
        fill_rows = [json.dumps(f) for f in fills]
        trade_ids = [f["trade_id"] for f in fills]
        report_rows = [json.dumps(r) for r in reports]
        self._raise_newest(scores.values())

        def op(pipe: Pipeline) -> None:
            self._write(pipe, records, opened, closed, scores)
            if fill_rows:
                pipe.sadd(self.trades_key, *trade_ids)
                pipe.rpush(self.fills_key, *fill_rows)
                pipe.ltrim(self.fills_key, -self.retain_fills, -1)
            if report_rows:
                pipe.rpush(self.reports_key, *report_rows)
                pipe.ltrim(self.reports_key, -self.retain_reports, -1)

        return op

    def _write(
        self,
        pipe: Pipeline,
        records: dict[str, str],
        opened: list[str],
        closed: list[str],
        scores: dict[str, float],
    ) -> None:
        if records:
            pipe.hset(self.records_key, mapping=records)  # type: ignore[arg-type]
        if opened:
            pipe.sadd(self.open_key, *opened)
        if closed:
            pipe.srem(self.open_key, *closed)
        if scores:
            pipe.zadd(self.index_key, scores)


@dataclass(slots=True)
class _Logged:
    order: Order  # a copy as of the last write (what the Redis record holds)
    events: list[OrderEvent] = field(default_factory=list)


class MemoryOrderStore:
    """:class:`OrderStore` in memory, record for record, for the in-process backtest: the records
    are copies taken when written (what the JSON in Redis holds, without the text), so a loaded
    order is a fresh copy either way. Single process, no transactions: :meth:`commit_op` writes
    at once and returns no op."""

    def __init__(self, retain_fills: int = 100_000, retain_reports: int = 10_000) -> None:
        self.retain_fills = retain_fills
        self.retain_reports = retain_reports
        self._orders: dict[str, _Logged] = {}
        self._open: set[str] = set()
        self._trades: set[str] = set()
        self._fills: deque[dict[str, Any]] = deque(maxlen=retain_fills)
        self._reports: deque[dict[str, Any]] = deque(maxlen=retain_reports)

    # -- reads ---------------------------------------------------------------------------
    def load_many(self, client_order_ids: list[str]) -> dict[str, Order | None]:
        return {cid: self.load(cid) for cid in client_order_ids}

    def may_hold(self, event_time: datetime) -> bool:
        return True  # looking is as cheap as knowing

    def load(self, client_order_id: str) -> Order | None:
        logged = self._orders.get(client_order_id)
        if logged is None:
            return None
        order = logged.order.copy()
        order.logged = len(logged.events)
        return order

    def open_ids(self) -> list[str]:
        return sorted(self._open)

    def events(self, client_order_id: str) -> list[dict[str, Any]]:
        logged = self._orders.get(client_order_id)
        return [] if logged is None else [e.to_dict() for e in logged.events]

    def trade_known(self, trade_id: str) -> bool:
        return trade_id in self._trades

    def recent_fills(self, limit: int) -> list[dict[str, Any]]:
        return _recent(self._fills, limit)

    def recent_reports(self, limit: int) -> list[dict[str, Any]]:
        return _recent(self._reports, limit)

    # -- writes --------------------------------------------------------------------------
    def write_ahead_many(self, orders: list[Order]) -> None:
        for order in orders:
            self.write_ahead(order)

    def write_ahead(self, order: Order) -> None:
        record = order.copy()
        record.logged = len(order.events)
        self._put(record, order.events[order.logged :])
        if order.working:
            self._open.add(order.client_order_id)
        order.logged = len(order.events)

    def forget(self, client_order_id: str) -> None:
        self._orders.pop(client_order_id, None)
        self._open.discard(client_order_id)

    def commit_op(
        self,
        orders: Iterable[Order],
        fills: Iterable[dict[str, Any]] = (),
        reports: Iterable[dict[str, Any]] = (),
    ) -> None:
        for order in orders:
            cid = order.client_order_id
            events = order.events[order.logged :]
            order.logged = len(order.events)
            self._put(order.copy(), events)
            if order.working:
                self._open.add(cid)
            else:
                self._open.discard(cid)
        for fill in fills:
            self._trades.add(fill["trade_id"])
            self._fills.append(dict(fill))
        self._reports.extend(dict(r) for r in reports)

    def _put(self, record: Order, events: list[OrderEvent]) -> None:
        logged = self._orders.get(record.client_order_id)
        if logged is None:
            self._orders[record.client_order_id] = _Logged(record, list(events))
        else:
            logged.order = record
            logged.events.extend(events)


def _recent(rows: deque[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    return [dict(row) for row in list(rows)[-limit:][::-1]]
