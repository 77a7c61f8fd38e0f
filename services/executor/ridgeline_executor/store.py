"""The executor's order log in Redis, under ``keys.service_state("executor", ...)``:

- ``order:<client id>``: a hash per order (``record``: the order's JSON, ``status``, ``symbol``);
- ``events:<client id>``: the order's event log, a list of transitions in sequence order;
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
from typing import Any, Protocol

from redis import Redis
from redis.client import Pipeline

from ridgeline_executor.orders.order import Order
from ridgeline_shared.keys import Keys

SERVICE = "executor"

CommitOp = Callable[[Pipeline], None]


class OrderLog(Protocol):
    """What the engine and the routes need of the order log (Redis or memory)."""

    def load(self, client_order_id: str) -> Order | None: ...
    def open_ids(self) -> list[str]: ...
    def events(self, client_order_id: str) -> list[dict[str, Any]]: ...
    def trade_known(self, trade_id: str) -> bool: ...
    def recent_fills(self, limit: int) -> list[dict[str, Any]]: ...
    def recent_reports(self, limit: int) -> list[dict[str, Any]]: ...
    def write_ahead(self, order: Order) -> None: ...
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

    def key(self, name: str) -> str:
        return self.keys.service_state(SERVICE, name)

    def order_key(self, client_order_id: str) -> str:
        return self.key(f"order:{client_order_id}")

    def events_key(self, client_order_id: str) -> str:
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
        """The logged order, with ``logged`` set to the length of its event log."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(self.order_key(client_order_id), "record")
        pipe.llen(self.events_key(client_order_id))
        raw, length = pipe.execute()
        if raw is None:
            return None
        order = Order.from_dict(json.loads(raw))
        order.logged = int(length)
        return order

    def open_ids(self) -> list[str]:
        return sorted(m.decode() if isinstance(m, bytes) else m for m in self.redis.smembers(self.open_key))

    def events(self, client_order_id: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(self.events_key(client_order_id), 0, -1)]

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
        pipe = self.redis.pipeline(transaction=True)
        self._write_order(pipe, order, order.events[order.logged :])
        pipe.execute()
        order.logged = len(order.events)

    def forget(self, client_order_id: str) -> None:
        """Drop the write-ahead record of an order the venue never received (uncommitted tick)."""
        pipe = self.redis.pipeline(transaction=True)
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
        """A write of the given orders' new state and events, for the tick's transaction.

        The payload is serialised now (and each order's ``logged`` advanced), so the op itself
        only writes what the handler decided.
        """
        writes = []
        for order in orders:
            new_events = order.events[order.logged :]
            order.logged = len(order.events)
            writes.append((order.client_order_id, order.symbol, order.status.value, order.working,
                           order.event_time.timestamp(), json.dumps(order.to_dict()),
                           [json.dumps(e.to_dict()) for e in new_events]))  # fmt: skip
        fill_rows = [json.dumps(f) for f in fills]
        trade_ids = [json.loads(f)["trade_id"] for f in fill_rows]
        report_rows = [json.dumps(r) for r in reports]

        def op(pipe: Pipeline) -> None:
            for cid, symbol, status, working, score, record, events in writes:
                pipe.hset(self.order_key(cid), mapping={"record": record, "status": status, "symbol": symbol})
                if events:
                    pipe.rpush(self.events_key(cid), *events)
                if working:
                    pipe.sadd(self.open_key, cid)
                else:
                    pipe.srem(self.open_key, cid)
                pipe.zadd(self.index_key, {cid: score})
            if fill_rows:
                pipe.sadd(self.trades_key, *trade_ids)
                pipe.rpush(self.fills_key, *fill_rows)
                pipe.ltrim(self.fills_key, -self.retain_fills, -1)
            if report_rows:
                pipe.rpush(self.reports_key, *report_rows)
                pipe.ltrim(self.reports_key, -self.retain_reports, -1)

        return op

    def _write_order(self, pipe: Pipeline, order: Order, events: list[Any]) -> None:
        cid = order.client_order_id
        record = dict(order.to_dict(), logged=len(order.events))
        pipe.hset(
            self.order_key(cid),
            mapping={"record": json.dumps(record), "status": order.status.value, "symbol": order.symbol},
        )
        if events:
            pipe.rpush(self.events_key(cid), *(json.dumps(e.to_dict()) for e in events))
        if order.working:
            pipe.sadd(self.open_key, cid)
        pipe.zadd(self.index_key, {cid: order.event_time.timestamp()})


@dataclass(slots=True)
class _Logged:
    record: str  # the order's JSON, as in the Redis hash
    events: list[str] = field(default_factory=list)


class MemoryOrderStore:
    """:class:`OrderStore` in memory, record for record (JSON as Redis holds it, so a loaded order
    is a fresh copy either way), for the in-process backtest. Single process, no transactions:
    :meth:`commit_op` writes at once and returns no op."""

    def __init__(self, retain_fills: int = 100_000, retain_reports: int = 10_000) -> None:
        self.retain_fills = retain_fills
        self.retain_reports = retain_reports
        self._orders: dict[str, _Logged] = {}
        self._open: set[str] = set()
        self._trades: set[str] = set()
        self._fills: deque[str] = deque(maxlen=retain_fills)
        self._reports: deque[str] = deque(maxlen=retain_reports)

    # -- reads ---------------------------------------------------------------------------
    def load(self, client_order_id: str) -> Order | None:
        logged = self._orders.get(client_order_id)
        if logged is None:
            return None
        order = Order.from_dict(json.loads(logged.record))
        order.logged = len(logged.events)
        return order

    def open_ids(self) -> list[str]:
        return sorted(self._open)

    def events(self, client_order_id: str) -> list[dict[str, Any]]:
        logged = self._orders.get(client_order_id)
        return [] if logged is None else [json.loads(raw) for raw in logged.events]

    def trade_known(self, trade_id: str) -> bool:
        return trade_id in self._trades

    def recent_fills(self, limit: int) -> list[dict[str, Any]]:
        return _recent(self._fills, limit)

    def recent_reports(self, limit: int) -> list[dict[str, Any]]:
        return _recent(self._reports, limit)

    # -- writes --------------------------------------------------------------------------
    def write_ahead(self, order: Order) -> None:
        record = json.dumps(dict(order.to_dict(), logged=len(order.events)))
        events = [json.dumps(e.to_dict()) for e in order.events[order.logged :]]
        self._put(order.client_order_id, record, events)
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
            events = [json.dumps(e.to_dict()) for e in order.events[order.logged :]]
            order.logged = len(order.events)
            self._put(cid, json.dumps(order.to_dict()), events)
            if order.working:
                self._open.add(cid)
            else:
                self._open.discard(cid)
        for fill in fills:
            self._trades.add(fill["trade_id"])
            self._fills.append(json.dumps(fill))
        self._reports.extend(json.dumps(r) for r in reports)

    def _put(self, cid: str, record: str, events: list[str]) -> None:
        logged = self._orders.get(cid)
        if logged is None:
            self._orders[cid] = _Logged(record, events)
        else:
            logged.record = record
            logged.events.extend(events)


def _recent(rows: deque[str], limit: int) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    return [json.loads(raw) for raw in list(rows)[-limit:][::-1]]
