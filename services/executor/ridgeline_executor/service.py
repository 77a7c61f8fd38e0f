"""The executor's runtime adapter: inputs ``bars`` then ``orders``, output ``executions``.

At tick T the worker first hands over the bars of T, then the order requests and risk commands
of T; both are kept until the tick's end. There the venue first matches all of T's bars against
the orders of earlier ticks, in one unit of work (a market order made at T-1 fills at T's open),
and the working orders are brought up to date with the venue, so the tick's commands act on
what bar T did (a cancel-all does not chase an order bar T filled, a flatten closes the position
including it); then the requests and commands are carried out in stream order with T as their
tick (runs of requests in batches): they reach the venue after bar T, so an order never fills on
the bar that caused it, and it is acknowledged within its own tick rather than a bar later. The
venue is asked once more if anything was sent (a live venue may fill at once), and the events
due at T become executions (event time T), sorted by (symbol, client order id, sequence).

``snapshot_every_tick``: handlers talk to the venue, so the worker snapshots the state in every
commit and never replays inputs; what a crash between a side effect and its commit leaves behind
is resolved through the write-ahead log and the venue (see :mod:`ridgeline_executor.engine`).
Between ticks (operator commands, periodic reconciliation) the venue is acted on at once, and the
resulting events wait for the next tick to be published, as consumers accept only entries after
the last watermark.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime
from typing import Any, ClassVar, Literal

import redis as redis_lib
from fastapi import APIRouter
from redis import Redis

from ridgeline_executor.api import build_router
from ridgeline_executor.book import Book, account_view, dec, position_view
from ridgeline_executor.brokers.base import Broker
from ridgeline_executor.brokers.factory import make_broker
from ridgeline_executor.config import ExecutorConfig, ExecutorSettings
from ridgeline_executor.engine import EngineOptions, Executor
from ridgeline_executor.orders.reconcile import Fees
from ridgeline_executor.store import MemoryOrderStore, OrderLog, OrderStore
from ridgeline_shared.clock import wall_now
from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.ids import command_id
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, ExecutorCommand, Message, OrderRequest
from ridgeline_shared.runtime.service import CommandError, Input, Outbox, Service

log = logging.getLogger("ridgeline.executor")

Inbound = OrderRequest | ExecutorCommand


class ExecutorService(Service):
    name: ClassVar[str] = "executor"
    inputs = (Input(Stream.BARS), Input(Stream.ORDERS))
    outputs = (Stream.EXECUTIONS,)
    snapshot_every_tick = True
    commands = ("cancel_all", "flatten", "reconcile")

    def __init__(self, settings: ServiceSettings, broker: Broker | None = None) -> None:
        super().__init__(settings)
        self.config: ExecutorConfig = getattr(settings, "executor", ExecutorConfig())
        self._broker = broker
        self.book = Book()
        self.engine: Executor | None = None
        self.store: OrderLog | None = None
        self._inbox: list[Inbound] = []
        self._bars: list[Bar] = []
        self._lock = threading.RLock()
        self._reconciled_at = 0.0
        self._polled_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self, redis: Redis | None) -> None:
        """``redis`` None: the in-process backtest, with the order log and the paper venue's
        books in memory (same records, same logic)."""
        with self._lock:
            retain = self.config.retain_fills
            self.store = (
                MemoryOrderStore(retain_fills=retain)
                if redis is None
                else OrderStore(redis, self.keys, retain_fills=retain)
            )
            self.book.resolve(self.store)
            if self._broker is None:
                if not isinstance(self.settings, ExecutorSettings):
                    raise TypeError("ExecutorService needs ExecutorSettings (or an explicit broker)")
                self._broker = make_broker(self.settings, redis)
            fees = self._fees()
            options = EngineOptions(
                strategy_id=self.settings.strategy_id,
                fees=fees,
                retain_closed_orders=self.config.retain_closed_orders,
                command_window=self.config.command_window,
            )
            self.engine = Executor(self._broker, self.store, self.book, options)
            self._inbox.clear()
            self._bars.clear()
            self.engine.start()
            self._reconciled_at = time.monotonic()

    def _fees(self) -> Fees:
        if self.config.broker == "alpaca":
            return Fees(self.config.alpaca.commission_bps, self.config.paper.commission_quantum)
        return Fees(self.config.paper.commission_bps, self.config.paper.commission_quantum)

    def ready(self) -> tuple[bool, str]:
        engine = self.engine
        if engine is None:
            return False, "not started"
        if not engine.reconciled:
            return False, f"not reconciled with {engine.venue}: {engine.last_error or 'pending'}"
        return True, "ok"

    # -- handlers --------------------------------------------------------------------------
    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        with self._lock:
            if stream is Stream.ORDERS:
                if isinstance(message, OrderRequest | ExecutorCommand):
                    self._inbox.append(message)
                return
            if (
                stream is Stream.BARS
                and isinstance(message, Bar)
                and message.interval == self.settings.interval
            ):
                self._bars.append(message)

    def on_tick_end(self, event_time: datetime | None, out: Outbox) -> None:
        with self._lock:
            engine = self._engine()
            deferred = self._match_bars(engine)
            if not deferred:
                engine.poll()
            if self._carry_out(event_time) or deferred:
                engine.poll()
            self._emit(engine, event_time, out)

    def on_idle(self, out: Outbox) -> None:
        with self._lock:
            engine = self.engine
            if engine is None:
                return
            now = time.monotonic()
            if not engine.reconciled or now - self._reconciled_at >= self.config.reconcile_interval_s:
                self._reconciled_at = self._polled_at = now
                engine.try_reconcile("periodic" if engine.reconciled else "reconnect")
            elif now - self._polled_at >= self.config.poll_interval_s:
                self._polled_at = now
                engine.poll()
            self._emit(engine, None, out)

    def _match_bars(self, engine: Executor) -> bool:
        """The tick's bars, all at once (the venue matches them in one unit of work, which
        applies whole or not at all): first thing at the tick's end, before its orders. When
        the tick brings order requests and no commands, the venue may defer the matching to
        the unit of work that takes the new orders (one write for both; it matches first, as
        now): True if it did. Commands act on what the bars did, so they are not deferred."""
        bars, self._bars = self._bars, []
        defer = bool(self._inbox) and all(isinstance(m, OrderRequest) for m in self._inbox)
        try:
            return engine.on_bars(bars, defer=defer)
        except Exception:
            log.exception("matching %d bars failed", len(bars))
            return False

    def _carry_out(self, tick: datetime | None) -> bool:
        """Carry out the tick's requests and commands, after its bars: an order made at T reaches
        the venue once bar T is matched, so it fills at T+1's open, never on its own bar. Runs
        of requests go as one batch (see ``Executor.handle_requests``); commands between them
        keep their place. False if there was nothing to do."""
        engine = self._engine()
        inbox, self._inbox = self._inbox, []
        i = 0
        while i < len(inbox):
            item = inbox[i]
            end = i + 1
            if isinstance(item, OrderRequest):
                while end < len(inbox) and isinstance(inbox[end], OrderRequest):
                    end += 1
            try:
                if isinstance(item, OrderRequest):
                    self._requests(engine, inbox[i:end], tick)  # type: ignore[arg-type]
                else:
                    engine.handle_command(item, tick)
            except redis_lib.RedisError:
                # Keep what is left for the retry (handling is idempotent); the worker's commit
                # fails as well, and it reconnects and restores.
                self._inbox = inbox[i:] + self._inbox
                raise
            except Exception:
                log.exception("handling %s %s failed", item.type, getattr(item, "client_order_id", ""))
            i = end
        return bool(inbox)

    @staticmethod
    def _requests(engine: Executor, requests: list[OrderRequest], tick: datetime | None) -> None:
        """A run of requests as a batch; if the batch fails unexpectedly, one by one (handling a
        request twice is harmless: the second finds it in the book)."""
        try:
            engine.handle_requests(requests, tick)
        except redis_lib.RedisError:
            raise
        except Exception:
            log.exception("handling %d order requests as a batch failed: one by one", len(requests))
            for request in requests:
                try:
                    engine.handle_request(request, tick)
                except redis_lib.RedisError:
                    raise
                except Exception:
                    log.exception("handling order request %s failed", request.client_order_id)

    def _emit(self, engine: Executor, tick: datetime | None, out: Outbox) -> None:
        flush = engine.flush(tick)
        for execution in flush.executions:
            out.emit(Stream.EXECUTIONS, execution)
        if flush.op is not None:
            out.add_op(flush.op)

    def _engine(self) -> Executor:
        if self.engine is None:
            raise RuntimeError("executor not started (on_start has not run)")
        return self.engine

    # -- state -------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        with self._lock:
            return self.book.encode()

    def restore(self, data: bytes | None) -> None:
        with self._lock:
            self.book = Book() if data is None else Book.from_dict(json.loads(data))
            if self.engine is not None:
                self.engine.book = self.book

    # -- control -----------------------------------------------------------------------------
    def apply_command(self, command: str, payload: dict[str, Any], out: Outbox) -> dict[str, Any]:
        with self._lock:
            engine = self.engine
            if engine is None:
                raise CommandError("executor not started")
            reason = str(payload.get("reason") or f"operator {command}")[:200]
            if command == "cancel_all":
                result: dict[str, Any] = {"canceled": engine.cancel_all(reason)}
            elif command == "flatten":
                book = self.book
                cid = command_id("FLATTEN", book.last_tick, book.operator_commands)
                book.operator_commands += 1
                event_time = book.last_tick or wall_now()
                result = {"command_id": cid, "orders": engine.flatten(cid, event_time, reason, None)}
            elif command == "reconcile":
                if not engine.try_reconcile("operator"):
                    raise CommandError(f"reconciliation failed: {engine.last_error}")
                self._reconciled_at = time.monotonic()
                result = dict(engine.last_summary)
            else:
                raise CommandError(f"unknown command {command!r}")
            self._emit(engine, None, out)
            return result

    def status(self) -> dict[str, Any]:
        with self._lock:
            engine = self.engine
            ledger = self.book.ledger
            return {
                "broker": self.config.broker,
                "venue": engine.venue if engine else None,
                "reconciled": bool(engine and engine.reconciled),
                "last_error": engine.last_error if engine else "",
                "reconciliations": engine.reconciliations if engine else 0,
                "last_reconciliation": engine.last_summary if engine else {},
                "working_orders": sum(1 for _ in self.book.working()),
                "orders_in_memory": len(self.book.orders),
                "last_tick": self.book.last_tick.isoformat() if self.book.last_tick else None,
                "account": account_view(ledger) if ledger else None,
            }

    def router(self) -> APIRouter | None:
        return build_router(self)

    # -- views for the routes (read under the lock: the worker thread mutates the book) ------------
    def orders_view(
        self, status: Literal["open", "closed", "all"], symbol: str | None, limit: int
    ) -> list[Any]:
        with self._lock:
            orders = list(self.book.orders.values())
            if status == "open":
                orders = [o for o in orders if not o.terminal]
            elif status == "closed":
                orders = [o for o in orders if o.terminal]
            if symbol:
                orders = [o for o in orders if o.symbol == symbol]
            return [o.view() for o in reversed(orders)][:limit]

    def order_events(self, client_order_id: str) -> list[dict[str, Any]] | None:
        store = self.store
        if store is None:
            return None
        events = store.events(client_order_id)
        return events or None

    def positions_view(self) -> list[dict[str, Any]]:
        with self._lock:
            ledger = self.book.ledger
            return [] if ledger is None else [position_view(p) for p in ledger.open_positions()]

    def fills_view(self, limit: int) -> list[dict[str, Any]]:
        return [] if self.store is None else self.store.recent_fills(limit)

    def account_view(self) -> dict[str, Any]:
        with self._lock:
            engine = self.engine
            ledger = self.book.ledger
            venue = engine.last_account if engine else None
            return {
                "account": account_view(ledger) if ledger else None,
                "venue": None
                if venue is None
                else {
                    "cash": dec(venue.cash),
                    "equity": dec(venue.equity),
                    "buying_power": dec(venue.buying_power),
                    "currency": venue.currency,
                },
            }
