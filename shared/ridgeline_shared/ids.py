"""Deterministic identifiers: the same inputs give the same id on every host and every replay,
which is what makes a redelivered or replayed request unable to become a second order."""

from __future__ import annotations

import hashlib
from datetime import datetime


def stable_id(prefix: str, *parts: object, size: int = 12) -> str:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=size).hexdigest()
    return f"{prefix}-{digest}"


def client_order_id(strategy_id: str, symbol: str, event_time: datetime, intent_seq: int) -> str:
    """Client order id of (strategy, symbol, bar event time, intent sequence): 27 chars, venue-safe."""
    return stable_id("RL", strategy_id, symbol, event_time.isoformat(), intent_seq)


def trade_id(venue: str, client_order_id: str, fill_seq: int) -> str:
    """Id for a fill the venue did not name (paper fills, fills synthesised by reconciliation)."""
    return stable_id("T", venue, client_order_id, fill_seq)


def command_id(kind: str, event_time: datetime | None, seq: int) -> str:
    return stable_id("C", kind, event_time.isoformat() if event_time else "-", seq)
