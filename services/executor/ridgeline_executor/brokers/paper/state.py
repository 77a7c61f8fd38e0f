"""Where the paper venue keeps its books: written by the venue itself (never through the
executor's transactions), as a real venue keeps its books apart from its clients.

The venue's logic (:mod:`.broker`) runs every operation as one unit of work through
:class:`PaperBooks`: it reads through a :class:`BooksView`, and its writes apply together or not
at all. Two implementations:

- :class:`PaperState`, in Redis: each unit of work is a MULTI/EXEC guarded by WATCH on the books
  it depends on, retried on a conflict, so the books survive an executor crash and several
  processes may drive the venue. Keys, under ``keys.service_state("paperbroker", ...)``:
  ``orders`` (hash: client id -> order JSON), ``open`` and ``open:<symbol>`` (sets of working
  client ids), ``account`` (the venue ledger's JSON), ``bar:<symbol>`` (event time of the last
  bar matched: the idempotency marker) and ``stats`` (hash: symbol -> market statistics JSON).
- :class:`MemoryPaperState`, in memory, for the in-process backtest (no Redis): the same
  records (the objects' dict forms), so every read is a fresh copy exactly as a Redis read is.

Guards name the books an operation's decision depends on: ``orders``, ``account``,
``bar:<symbol>``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import redis
from redis import Redis
from redis.client import Pipeline

from ridgeline_executor.brokers.base import BrokerUnavailableError
from ridgeline_executor.brokers.paper.matching import PaperOrder
from ridgeline_shared.accounting import Ledger
from ridgeline_shared.keys import Keys
from ridgeline_shared.market import MarketStats

SERVICE = "paperbroker"
RETRIES = 50

T = TypeVar("T")


class BooksView(Protocol):
    """The books as one unit of work sees them. Reads return fresh objects; writes take effect
    when the unit of work completes (and the written objects belong to the books from then on)."""

    def has_order(self, client_order_id: str) -> bool: ...
    def order(self, client_order_id: str) -> PaperOrder | None: ...
    def orders(self, client_order_ids: list[str]) -> list[PaperOrder]: ...
    def open_ids(self, symbol: str | None = None) -> list[str]:
        """Working client ids (of ``symbol``, or all), sorted."""
        ...

    def ledger(self, initial_cash: Decimal) -> Ledger: ...
    def last_bar(self, symbol: str) -> datetime | None: ...
    def stats(self, symbol: str) -> dict[str, Any] | None:
        """The symbol's :meth:`MarketStats.to_dict` record."""
        ...

    def put_order(self, order: PaperOrder) -> None: ...
    def put_ledger(self, ledger: Ledger) -> None: ...
    def put_stats(self, symbol: str, stats: MarketStats) -> None: ...
    def put_last_bar(self, symbol: str, event_time: datetime) -> None: ...


class PaperBooks(Protocol):
    def transact(self, work: Callable[[BooksView], T], guard: Iterable[str]) -> T:
        """Run ``work`` as one unit: its writes apply together, and only if none of the ``guard``
        books changed meanwhile (else it runs again). Raises BrokerUnavailableError when the
        books cannot be reached."""
        ...

    def read(self, work: Callable[[BooksView], T]) -> T:
        """Run read-only ``work`` against the current books."""
        ...


# -- Redis ---------------------------------------------------------------------------------
class PaperState:
    """The books in Redis (see the module docstring)."""

    def __init__(self, redis_client: Redis, keys: Keys) -> None:
        self.redis = redis_client
        self.keys = keys

    def key(self, name: str) -> str:
        return self.keys.service_state(SERVICE, name)

    @property
    def orders_key(self) -> str:
        return self.key("orders")

    @property
    def open_key(self) -> str:
        return self.key("open")

    @property
    def account_key(self) -> str:
        return self.key("account")

    @property
    def stats_key(self) -> str:
        return self.key("stats")

    def open_symbol_key(self, symbol: str) -> str:
        return self.key(f"open:{symbol}")

    def bar_key(self, symbol: str) -> str:
        return self.key(f"bar:{symbol}")

    def transact(self, work: Callable[[BooksView], T], guard: Iterable[str]) -> T:
        watched = [self.key(name) for name in guard]
        try:
            for _ in range(RETRIES):
                with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(*watched)  # type: ignore[no-untyped-call]
                        view = _RedisView(self, pipe)
                        result = work(view)
                        if view.writes:
                            pipe.multi()
                            for write in view.writes:
                                write(pipe)
                            pipe.execute()
                        else:
                            pipe.unwatch()
                        return result
                    except redis.WatchError:
                        continue
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
        raise BrokerUnavailableError("paper venue: too many concurrent updates")

    def read(self, work: Callable[[BooksView], T]) -> T:
        try:
            return work(_RedisView(self, self.redis))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class _RedisView:
    """Reads through the client or the watching pipeline (immediate mode); writes are serialised
    at once and queued for the MULTI."""

    def __init__(self, state: PaperState, client: Redis | Pipeline) -> None:
        self.state = state
        self.client = client
        self.writes: list[Callable[[Pipeline], object]] = []

    def has_order(self, client_order_id: str) -> bool:
        return bool(self.client.hexists(self.state.orders_key, client_order_id))

    def order(self, client_order_id: str) -> PaperOrder | None:
        raw = self.client.hget(self.state.orders_key, client_order_id)
        return None if raw is None else PaperOrder.from_dict(json.loads(raw))

    def orders(self, client_order_ids: list[str]) -> list[PaperOrder]:
        if not client_order_ids:
            return []
        raws = self.client.hmget(self.state.orders_key, client_order_ids)
        return [PaperOrder.from_dict(json.loads(raw)) for raw in raws if raw is not None]

    def open_ids(self, symbol: str | None = None) -> list[str]:
        key = self.state.open_key if symbol is None else self.state.open_symbol_key(symbol)
        return sorted(_text(m) for m in self.client.smembers(key))

    def ledger(self, initial_cash: Decimal) -> Ledger:
        raw = self.client.get(self.state.account_key)
        return Ledger(cash=initial_cash) if raw is None else Ledger.from_dict(json.loads(raw))

    def last_bar(self, symbol: str) -> datetime | None:
        raw = self.client.get(self.state.bar_key(symbol))
        return None if raw is None else datetime.fromisoformat(_text(raw))

    def stats(self, symbol: str) -> dict[str, Any] | None:
        raw = self.client.hget(self.state.stats_key, symbol)
        return None if raw is None else dict(json.loads(raw))

    def put_order(self, order: PaperOrder) -> None:
        cid, state = order.client_order_id, self.state
        record, symbol_key = json.dumps(order.to_dict()), state.open_symbol_key(order.symbol)
        working = order.working

        def write(pipe: Pipeline) -> None:
            pipe.hset(state.orders_key, cid, record)
            if working:
                pipe.sadd(state.open_key, cid)
                pipe.sadd(symbol_key, cid)
            else:
                pipe.srem(state.open_key, cid)
                pipe.srem(symbol_key, cid)

        self.writes.append(write)

    def put_ledger(self, ledger: Ledger) -> None:
        record, key = json.dumps(ledger.to_dict()), self.state.account_key
        self.writes.append(lambda pipe: pipe.set(key, record))

    def put_stats(self, symbol: str, stats: MarketStats) -> None:
        record, key = json.dumps(stats.to_dict()), self.state.stats_key
        self.writes.append(lambda pipe: pipe.hset(key, symbol, record))

    def put_last_bar(self, symbol: str, event_time: datetime) -> None:
        value, key = event_time.isoformat(), self.state.bar_key(symbol)
        self.writes.append(lambda pipe: pipe.set(key, value))


# -- memory --------------------------------------------------------------------------------
class MemoryPaperState:
    """The books in memory, for one process (the in-process backtest). Records are the objects'
    dict forms, as in Redis without the JSON, so reads are copies and an aborted unit of work
    leaves nothing behind. Guards are moot: units of work run one at a time under a lock."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.open: dict[str, set[str]] = {}  # symbol -> working client ids
        self.account: dict[str, Any] | None = None
        self.bars: dict[str, datetime] = {}
        self.market: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def transact(self, work: Callable[[BooksView], T], guard: Iterable[str]) -> T:
        with self._lock:
            view = _MemoryView(self)
            result = work(view)
            for write in view.writes:
                write()
            return result

    def read(self, work: Callable[[BooksView], T]) -> T:
        with self._lock:
            return work(_MemoryView(self))


class _MemoryView:
    def __init__(self, state: MemoryPaperState) -> None:
        self.state = state
        self.writes: list[Callable[[], None]] = []

    def has_order(self, client_order_id: str) -> bool:
        return client_order_id in self.state.orders

    def order(self, client_order_id: str) -> PaperOrder | None:
        record = self.state.orders.get(client_order_id)
        return None if record is None else PaperOrder.from_dict(record)

    def orders(self, client_order_ids: list[str]) -> list[PaperOrder]:
        records = self.state.orders
        return [PaperOrder.from_dict(records[c]) for c in client_order_ids if c in records]

    def open_ids(self, symbol: str | None = None) -> list[str]:
        books = self.state.open
        if symbol is not None:
            return sorted(books.get(symbol, ()))
        return sorted(cid for ids in books.values() for cid in ids)

    def ledger(self, initial_cash: Decimal) -> Ledger:
        record = self.state.account
        return Ledger(cash=initial_cash) if record is None else Ledger.from_dict(record)

    def last_bar(self, symbol: str) -> datetime | None:
        return self.state.bars.get(symbol)

    def stats(self, symbol: str) -> dict[str, Any] | None:
        record = self.state.market.get(symbol)
        return None if record is None else dict(record)

    def put_order(self, order: PaperOrder) -> None:
        state, cid, record = self.state, order.client_order_id, order.to_dict()
        symbol, working = order.symbol, order.working

        def write() -> None:
            state.orders[cid] = record
            ids = state.open.setdefault(symbol, set())
            if working:
                ids.add(cid)
            else:
                ids.discard(cid)

        self.writes.append(write)

    def put_ledger(self, ledger: Ledger) -> None:
        state, record = self.state, ledger.to_dict()

        def write() -> None:
            state.account = record

        self.writes.append(write)

    def put_stats(self, symbol: str, stats: MarketStats) -> None:
        record = stats.to_dict()
        self.writes.append(lambda: self.state.market.update({symbol: record}))

    def put_last_bar(self, symbol: str, event_time: datetime) -> None:
        self.writes.append(lambda: self.state.bars.update({symbol: event_time}))
