"""The paper venue's books in Redis: they survive an executor crash, as a real venue's would, and
several processes may drive the venue.

A unit of work is its reads, then one compare-and-set script of its writes (``CAS``), retried
on a conflict. Every write bumps a ``version``; the script writes only if the version is still
the one the reads were taken at (read first in each read pipeline, so any later change fails
the script). This process keeps a :class:`Mirror` of what it read and wrote as of a version, and
a unit of work reads from Redis only what the mirror lacks: in the steady state of one writer a
unit of work is one round trip (the script), and a tick's new orders are taken as unknown to the
venue unless the mirror's working orders hold them, the script checking that they still are
(else the unit runs again, reading them). Scripts are atomic: a unit applies whole or not at all,
across a kill -9 of the executor at any point.

Keys, under ``keys.service_state("paperbroker", ...)``: ``orders`` (hash: client id -> order
JSON), ``working`` (hash: the working orders, client id -> order JSON: one read gives every
working order, which a tick's matching and the executor's polls need), ``symbols`` (hash: symbol
-> :class:`SymbolBook` JSON), ``totals`` (the account's :class:`Totals` JSON) and
``bars:<symbol>`` (list of the last bars' ``high,low,close,volume``: one RPUSH per bar, trimmed
now and then, as only its tail is read), ``version`` (bumped by every unit of work that writes).

A tick's matching is then about as many commands as symbols (the RPUSHes), whatever the orders.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import redis
from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script

from ridgeline_executor.brokers.base import BrokerOrder, BrokerUnavailableError
from ridgeline_executor.brokers.paper.books import BarFigures, BooksView, Slice, SymbolBook, Totals
from ridgeline_executor.brokers.paper.matching import PaperOrder
from ridgeline_shared.keys import Keys

log = logging.getLogger("ridgeline.executor.paper")

SERVICE = "paperbroker"
RETRIES = 50
# A symbol's bar list is trimmed back to what the statistics need once it holds this many more.
TRIM_SLACK = 64

T = TypeVar("T")

# What commit returns besides a new version (> 0).
STALE, KNOWN = -1, -2

# The compare-and-set of a unit of work: KEYS[1] the version, KEYS[2] the orders; ARGV the
# version read, the count of orders taken as new and their ids, then the writes (see _Script).
CAS = """
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
if version ~= tonumber(ARGV[1]) then return -1 end
local absent = tonumber(ARGV[2])
for i = 3, 2 + absent do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then return -2 end
end
local i = 3 + absent
while i <= #ARGV do
  local count = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + count))
  i = i + 3 + count
end
return redis.call('INCR', KEYS[1])
"""


class PaperState:
    """The books in Redis (see the module docstring)."""

    def __init__(self, redis_client: Redis, keys: Keys) -> None:
        self.redis = redis_client
        self.keys = keys
        self.decoded = Decoded()
        # Bars pushed per symbol since its list was last trimmed (a bound, not a count: another
        # process may push too; the readers take only the tail they need).
        self.pushed: dict[str, int] = {}
        self.mirror = Mirror()
        self._cas = redis_client.register_script(CAS)
        self._warn_legacy()

    def key(self, name: str) -> str:
        return self.keys.service_state(SERVICE, name)

    @property
    def version_key(self) -> str:
        return self.key("version")

    @property
    def orders_key(self) -> str:
        return self.key("orders")

    @property
    def working_key(self) -> str:
        return self.key("working")

    @property
    def symbols_key(self) -> str:
        return self.key("symbols")

    @property
    def totals_key(self) -> str:
        return self.key("totals")

    def bars_key(self, symbol: str) -> str:
        return self.key(f"bars:{symbol}")

    def _warn_legacy(self) -> None:
        """Books of the earlier layout (one ``account`` record) are not read: say so once."""
        try:
            legacy = self.redis.exists(self.key("account")) and not self.redis.exists(self.totals_key)
        except redis.RedisError:
            return
        if legacy:
            log.warning(
                "paper venue books of an earlier layout under %s are ignored (account, bar:*, stats);"
                " delete the %s keys to start the paper account afresh",
                self.key("*"),
                SERVICE,
            )

    def transact(self, work: Callable[[BooksView], T], guard: Iterable[str]) -> T:
        """``guard`` is moot here: the version covers every book (see the module docstring)."""
        assume_new = True
        try:
            for _ in range(RETRIES):
                view = _RedisView(self, self.mirror, assume_new=assume_new)
                try:
                    result = work(view)
                except _StaleError:
                    self.mirror = Mirror()
                    continue
                if not view.dirty:
                    if view.absent:
                        assume_new = False  # nothing to commit checks the assumption: read them
                        continue
                    return result
                version = view.commit(self._cas)
                if version > 0:
                    return result
                if version == KNOWN:
                    assume_new = False  # an order taken as new is known after all: read them
                else:
                    self.mirror = Mirror()
        except redis.RedisError as exc:
            self.mirror = Mirror()  # whether the last write landed is unknown: read afresh
            if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
                raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc
            raise
        raise BrokerUnavailableError("paper venue: too many concurrent updates")

    def read(self, work: Callable[[BooksView], T]) -> T:
        try:
            return work(_RedisView(self, None))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailableError(f"paper venue unreachable: {exc}") from exc


class _StaleError(Exception):
    """The books changed since the mirror was taken (another writer): the attempt starts afresh."""


Raw = bytes | str


@dataclass(slots=True)
class Mirror:
    """What this process knows of the books as of ``version`` (None: nothing yet): the texts it
    read or wrote, each exactly what Redis holds while the version is unchanged. Every write
    bumps the version, so a unit of work that trusted the mirror commits only if no one else
    wrote meanwhile."""

    version: int | None = None
    totals: Raw | None = None
    totals_known: bool = False
    symbols: dict[str, Raw | None] = field(default_factory=dict)  # None: no book yet
    working: dict[str, Raw] | None = None  # the whole working hash, once read

    def check(self, version: int) -> None:
        if self.version is None:
            self.version = version
        elif version != self.version:
            raise _StaleError


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class Decoded:
    """Order records decoded once per text: a record's text is its whole state, so the same
    text decodes to the same order. Orders are handed out as copies (callers change them);
    reports are immutable and shared. Bounded: forgotten whole past ``limit`` texts."""

    def __init__(self, limit: int = 8192) -> None:
        self.limit = limit
        self._cache: dict[bytes | str, tuple[PaperOrder, BrokerOrder | None]] = {}

    def _entry(self, raw: bytes | str) -> tuple[PaperOrder, BrokerOrder | None]:
        entry = self._cache.get(raw)
        if entry is None:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            entry = self._cache[raw] = (PaperOrder.from_dict(json.loads(raw)), None)
        return entry

    def remember(self, raw: str, order: PaperOrder) -> BrokerOrder:
        """Take the order written as ``raw`` (a copy): reading that text back hands out the same
        report. Redis hands texts back as bytes, which is how they are kept."""
        report = order.report()
        key = raw.encode()
        if key not in self._cache:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            self._cache[key] = (order.copy(), report)
        else:
            report = self.report(key)
        return report

    def template(self, raw: bytes | str) -> PaperOrder:
        """The decoded order itself: not to be changed (copy it)."""
        return self._entry(raw)[0]

    def order(self, raw: bytes | str) -> PaperOrder:
        return self._entry(raw)[0].copy()

    def report(self, raw: bytes | str) -> BrokerOrder:
        order, report = self._entry(raw)
        if report is None:
            report = order.report()
            self._cache[raw] = (order, report)
        return report


def _totals(raw: bytes | str | None, initial_cash: Decimal) -> Totals:
    return Totals(initial_cash) if raw is None else Totals.from_dict(json.loads(raw))


def _figures(raw: bytes | str) -> BarFigures:
    high, low, close, volume = _text(raw).split(",")
    return float(high), float(low), float(close), float(volume)


class _RedisView:
    """Reads come from the mirror (``mirror`` None: a plain read, outside a unit of work), what it
    lacks from Redis in one pipeline that reads the version first; writes are serialised at once
    and kept, last one per record winning, for one compare-and-set script."""

    def __init__(self, state: PaperState, mirror: Mirror | None, *, assume_new: bool = False) -> None:
        self.state = state
        self.client = state.redis
        self.mirror = mirror
        # Orders asked for by client id and taken as unknown without a read (``assume_new``:
        # not in the mirror's working orders): the commit checks that they still are.
        self.assume_new = assume_new
        self.absent: list[str] = []
        # The unit's writes so far (its reads see them).
        self._orders: dict[str, tuple[str, str, bool]] = {}  # cid -> (record, symbol, working)
        self._symbols: dict[str, str] = {}
        self._totals: str | None = None
        self._bars: dict[str, tuple[list[str], int]] = {}

    def _read(self, build: Callable[[Pipeline], object]) -> list[Any]:
        """One round trip; within a unit of work the version first, checked against the mirror."""
        pipe = self.client.pipeline(transaction=False)
        if self.mirror is not None:
            pipe.get(self.state.version_key)
        build(pipe)
        replies: list[Any] = pipe.execute()
        if self.mirror is None:
            return replies
        self.mirror.check(int(replies[0] or 0))
        return replies[1:]

    # -- reads -----------------------------------------------------------------------------
    def slice(
        self,
        symbols: Iterable[str],
        initial_cash: Decimal,
        *,
        working: bool = False,
        open: bool = False,
        orders: Sequence[str] = (),
    ) -> Slice:
        state, names = self.state, list(symbols)
        mirror = self.mirror if self.mirror is not None else Mirror()
        want_working = bool(names and working) or open
        need_totals = not mirror.totals_known and self._totals is None
        need_symbols = [s for s in names if s not in mirror.symbols and s not in self._symbols]
        need_working = want_working and mirror.working is None
        found, need_orders = self._known(orders, assume=self.assume_new)

        def build(pipe: Pipeline) -> None:
            if need_totals:
                pipe.get(state.totals_key)
            if need_symbols:
                pipe.hmget(state.symbols_key, need_symbols)
            if need_working:
                pipe.hgetall(state.working_key)
            if need_orders:
                pipe.hmget(state.orders_key, need_orders)

        if need_totals or need_symbols or need_working or need_orders:
            replies = iter(self._read(build))
            if need_totals:
                mirror.totals, mirror.totals_known = next(replies), True
            if need_symbols:
                mirror.symbols.update(zip(need_symbols, next(replies), strict=True))
            if need_working:
                mirror.working = {_text(c): raw for c, raw in next(replies).items()}
            if need_orders:
                found.update(
                    (c, raw) for c, raw in zip(need_orders, next(replies), strict=True) if raw is not None
                )
        out = Slice(_totals(self._totals or mirror.totals, initial_cash), {})
        for symbol in names:
            raw = self._symbols.get(symbol) or mirror.symbols[symbol]
            out.symbols[symbol] = SymbolBook() if raw is None else SymbolBook.from_dict(json.loads(raw))
        if want_working:
            records = self._working(mirror.working or {})
            if working:
                out.working = {symbol: [] for symbol in names}
                for cid in sorted(records):
                    order = state.decoded.template(records[cid])
                    if order.symbol in out.working:
                        out.working[order.symbol].append(order.copy())
            if open:
                out.open = {cid: state.decoded.report(records[cid]) for cid in sorted(records)}
        decode = state.decoded.order
        out.orders = {c: decode(found[c]) for c in orders if c in found}
        return out

    def _known(self, client_order_ids: Sequence[str], *, assume: bool) -> tuple[dict[str, Raw], list[str]]:
        """The records the mirror holds of these orders (its working ones), and the ids to read:
        none when they are assumed new (the commit then checks that they are)."""
        working = self.mirror.working if self.mirror is not None else None
        found: dict[str, Raw] = {}
        rest = []
        for cid in client_order_ids:
            own = self._orders.get(cid)
            raw = own[0].encode() if own is not None else None if working is None else working.get(cid)
            if raw is not None:
                found[cid] = raw
            else:
                rest.append(cid)
        if rest and assume and working is not None:
            self.absent.extend(rest)
            rest = []
        return found, rest

    def _working(self, records: dict[str, Raw]) -> dict[str, Raw]:
        """The working orders read, with this unit's own writes."""
        if not self._orders:
            return records
        records = dict(records)
        for cid, (record, _, live) in self._orders.items():
            if live:
                records[cid] = record.encode()
            else:
                records.pop(cid, None)
        return records

    def orders(self, client_order_ids: Sequence[str]) -> dict[str, PaperOrder]:
        if not client_order_ids:
            return {}
        found, rest = self._known(client_order_ids, assume=False)
        if rest:
            orders_key = self.state.orders_key
            raws = self._read(lambda pipe: pipe.hmget(orders_key, rest))[0]
            found.update((c, raw) for c, raw in zip(rest, raws, strict=True) if raw is not None)
        decode = self.state.decoded.order
        return {c: decode(found[c]) for c in client_order_ids if c in found}

    def reports(self, client_order_ids: Sequence[str]) -> dict[str, BrokerOrder]:
        if not client_order_ids:
            return {}
        found = {c: own[0].encode() for c in client_order_ids if (own := self._orders.get(c)) is not None}
        rest = [c for c in client_order_ids if c not in found]
        if rest:
            orders_key = self.state.orders_key
            raws = self._read(lambda pipe: pipe.hmget(orders_key, rest))[0]
            found.update((c, raw) for c, raw in zip(rest, raws, strict=True) if raw is not None)
        report = self.state.decoded.report
        return {c: report(found[c]) for c in client_order_ids if c in found}

    def open_reports(self) -> list[BrokerOrder]:
        working_key = self.state.working_key
        records = self._working(
            {_text(c): raw for c, raw in self._read(lambda pipe: pipe.hgetall(working_key))[0].items()}
        )
        report = self.state.decoded.report
        return [report(records[cid]) for cid in sorted(records)]

    def everything(self, initial_cash: Decimal) -> tuple[Totals, dict[str, SymbolBook]]:
        state = self.state

        def build(pipe: Pipeline) -> None:
            pipe.get(state.totals_key)
            pipe.hgetall(state.symbols_key)

        raw_totals, raw_books = self._read(build)
        raws = {_text(s): raw for s, raw in raw_books.items()} | self._symbols
        books = {s: SymbolBook.from_dict(json.loads(raw)) for s, raw in raws.items()}
        return _totals(self._totals or raw_totals, initial_cash), books

    def history(self, symbols: Sequence[str], keep: int) -> dict[str, list[BarFigures]]:
        state = self.state
        if any(symbol in self._bars for symbol in symbols):
            raise RuntimeError("history read after this unit's own bars: not supported")

        def build(pipe: Pipeline) -> None:
            for symbol in symbols:
                pipe.lrange(state.bars_key(symbol), -keep, -1)

        replies = self._read(build)
        for symbol in symbols:
            state.pushed[symbol] = keep + TRIM_SLACK  # its length is not known: trim next time
        return {s: [_figures(r) for r in rows] for s, rows in zip(symbols, replies, strict=True)}

    # -- writes ----------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._orders or self._symbols or self._totals is not None or self._bars)

    def put_order(self, order: PaperOrder) -> BrokerOrder:
        record = order.to_json()
        self._orders[order.client_order_id] = (record, order.symbol, order.working)
        return self.state.decoded.remember(record, order)

    def put_symbol(self, symbol: str, book: SymbolBook) -> None:
        self._symbols[symbol] = json.dumps(book.to_dict())

    def put_totals(self, totals: Totals) -> None:
        self._totals = json.dumps(totals.to_dict())

    def push_bar(self, symbol: str, figures: BarFigures, keep: int) -> None:
        high, low, close, volume = figures
        rows, _ = self._bars.get(symbol, ([], keep))
        rows.append(f"{high!r},{low!r},{close!r},{volume!r}")
        self._bars[symbol] = (rows, keep)

    def commit(self, cas: Script) -> int:
        """Write everything in one script, if the version is still the mirror's and the orders
        taken as new still are: the new version, else STALE or KNOWN. The mirror then holds
        what was written."""
        mirror = self.mirror
        assert mirror is not None
        if mirror.version is None:
            self._read(lambda pipe: None)  # nothing was read: learn the version written on
        script = _Script(self.state)
        state = self.state
        pushed = dict(state.pushed)
        if self._orders:
            script.hset(state.orders_key, {c: r for c, (r, _, _) in self._orders.items()})
            script.hset(state.working_key, {c: r for c, (r, _, w) in self._orders.items() if w})
            script.command("HDEL", state.working_key, [c for c, (_, _, w) in self._orders.items() if not w])
        script.hset(state.symbols_key, self._symbols)
        if self._totals is not None:
            script.command("SET", state.totals_key, [self._totals])
        for symbol, (rows, keep) in self._bars.items():
            key = state.bars_key(symbol)
            script.command("RPUSH", key, rows)
            count = pushed.get(symbol, keep) + len(rows)
            if count > keep + TRIM_SLACK:
                script.command("LTRIM", key, [str(-keep), "-1"])
                count = keep
            pushed[symbol] = count
        version = int(
            cas(keys=script.keys, args=[mirror.version or 0, len(self.absent), *self.absent, *script.args])
        )
        if version > 0:
            state.pushed = pushed
            self._settle(mirror, version)
        return version

    def _settle(self, mirror: Mirror, version: int) -> None:
        """The mirror after this view's writes: exactly the books at ``version``."""
        mirror.version = version
        working = mirror.working
        for cid, (record, _, live) in self._orders.items():
            if working is not None:
                if live:
                    working[cid] = record.encode()
                else:
                    working.pop(cid, None)
        for symbol, text in self._symbols.items():
            mirror.symbols[symbol] = text.encode()
        if self._totals is not None:
            mirror.totals, mirror.totals_known = self._totals.encode(), True


class _Script:
    """The arguments of the compare-and-set script: the keys, then per command its name, the
    index of its key, its argument count and its arguments (in chunks Lua can unpack)."""

    CHUNK = 4000

    def __init__(self, state: PaperState) -> None:
        self.keys = [state.version_key, state.orders_key]
        self.args: list[Any] = []
        self._index = {key: i + 1 for i, key in enumerate(self.keys)}

    def command(self, name: str, key: str, values: Sequence[Any]) -> None:
        if not values:
            return
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)
        for at in range(0, len(values), self.CHUNK):
            chunk = values[at : at + self.CHUNK]
            self.args.extend((name, index, len(chunk), *chunk))

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        self.command("HSET", key, [x for pair in mapping.items() for x in pair])
