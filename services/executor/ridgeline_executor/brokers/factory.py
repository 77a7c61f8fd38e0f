"""The broker named by configuration; without a Redis client (the in-process backtest) the paper
venue keeps its books in memory."""

from __future__ import annotations

from redis import Redis

from ridgeline_executor.brokers.base import Broker
from ridgeline_executor.config import ExecutorSettings
from ridgeline_shared.intervals import parse_minutes
from ridgeline_shared.keys import Keys


def make_broker(settings: ExecutorSettings, redis: Redis | None) -> Broker:
    config = settings.executor
    if config.broker == "alpaca":
        if redis is None:
            raise ValueError("broker 'alpaca' cannot run in the in-process backtest: use 'paper'")
        from ridgeline_executor.brokers.alpaca.broker import AlpacaBroker

        return AlpacaBroker(config.alpaca)
    from ridgeline_executor.brokers.paper.broker import PaperBroker
    from ridgeline_executor.brokers.paper.state import MemoryPaperState, PaperBooks, PaperState

    bars = settings.session_minutes // parse_minutes(settings.interval, settings.session_minutes)
    keys = Keys(settings.prefix, settings.shard)
    books: PaperBooks = MemoryPaperState() if redis is None else PaperState(redis, keys)
    return PaperBroker(books, keys, config.paper, max(bars, 1), market=settings.market)
