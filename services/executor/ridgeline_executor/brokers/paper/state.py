"""The paper venue's durable state in Redis, written by the venue itself (never through the
executor's transactions), as a real venue keeps its books apart from its clients.

Keys, under ``keys.service_state("paperbroker", ...)``:
``orders`` (hash: client id -> order JSON), ``open`` and ``open:<symbol>`` (sets of working client
ids), ``account`` (the venue ledger's JSON), ``bar:<symbol>`` (event time of the last bar matched:
the idempotency marker) and ``stats`` (hash: symbol -> market statistics JSON).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis import Redis
from redis.client import Pipeline

from ridgeline_executor.brokers.paper.matching import PaperOrder
from ridgeline_shared.accounting import Ledger
from ridgeline_shared.keys import Keys
from ridgeline_shared.market import MarketStats

SERVICE = "paperbroker"


class PaperState:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
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

    # -- reads (through a client or a watching pipeline) -------------------------------------
    @staticmethod
    def read_order(client: Redis | Pipeline, key: str, client_order_id: str) -> PaperOrder | None:
        raw = client.hget(key, client_order_id)
        return None if raw is None else PaperOrder.from_dict(json.loads(raw))

    @staticmethod
    def read_orders(client: Redis | Pipeline, key: str, client_order_ids: list[str]) -> list[PaperOrder]:
        if not client_order_ids:
            return []
        raws = client.hmget(key, client_order_ids)
        return [PaperOrder.from_dict(json.loads(raw)) for raw in raws if raw is not None]

    def read_ledger(self, client: Redis | Pipeline, initial_cash: Decimal) -> Ledger:
        raw = client.get(self.account_key)
        return Ledger(cash=initial_cash) if raw is None else Ledger.from_dict(json.loads(raw))

    @staticmethod
    def read_time(client: Redis | Pipeline, key: str) -> datetime | None:
        raw = client.get(key)
        return (
            None if raw is None else datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
        )

    def read_stats(self, client: Redis | Pipeline, symbol: str) -> dict[str, Any] | None:
        raw = client.hget(self.stats_key, symbol)
        return None if raw is None else dict(json.loads(raw))

    # -- writes (inside MULTI) -----------------------------------------------------------
    def write_order(self, pipe: Pipeline, order: PaperOrder) -> None:
        pipe.hset(self.orders_key, order.client_order_id, json.dumps(order.to_dict()))
        if order.working:
            pipe.sadd(self.open_key, order.client_order_id)
            pipe.sadd(self.open_symbol_key(order.symbol), order.client_order_id)
        else:
            pipe.srem(self.open_key, order.client_order_id)
            pipe.srem(self.open_symbol_key(order.symbol), order.client_order_id)

    def write_ledger(self, pipe: Pipeline, ledger: Ledger) -> None:
        pipe.set(self.account_key, json.dumps(ledger.to_dict()))

    def write_stats(self, pipe: Pipeline, symbol: str, stats: MarketStats) -> None:
        pipe.hset(self.stats_key, symbol, json.dumps(stats.to_dict()))
