"""The broker named by configuration."""

from __future__ import annotations

from redis import Redis

from ridgeline_executor.brokers.base import Broker
from ridgeline_executor.config import ExecutorSettings
from ridgeline_shared.intervals import parse_minutes
from ridgeline_shared.keys import Keys


def make_broker(settings: ExecutorSettings, redis: Redis) -> Broker:
    config = settings.executor
    if config.broker == "alpaca":
        from ridgeline_executor.brokers.alpaca.broker import AlpacaBroker

        return AlpacaBroker(config.alpaca)
    from ridgeline_executor.brokers.paper.broker import PaperBroker

    bars = settings.session_minutes // parse_minutes(settings.interval, settings.session_minutes)
    return PaperBroker(redis, Keys(settings.prefix, settings.shard), config.paper, max(bars, 1))
