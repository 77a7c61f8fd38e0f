"""Every Redis key Ridgeline uses, in one place (arq's constants-module convention).

All keys start with a configurable prefix so several deployments can share one Redis. Keys of one
symbol shard carry the Redis Cluster hash tag ``{s<shard>}``: one MULTI/EXEC can then write a
shard's output streams, acks, dead letters and state together, even on a cluster.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import StrEnum


class Stream(StrEnum):
    BARS = "bars"
    PREDICTIONS = "predictions"
    SIGNALS = "signals"
    ORDERS = "orders"
    RISK_EVENTS = "risk_events"
    EXECUTIONS = "executions"
    DEAD_LETTERS = "dead_letters"


def shard_of(symbol: str, shard_count: int) -> int:
    """Stable symbol -> shard mapping (crc32, identical on every host and Python version)."""
    return zlib.crc32(symbol.encode()) % shard_count


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "ridgeline"
    shard: int = 0

    @property
    def tag(self) -> str:
        return f"{{s{self.shard}}}"

    def stream(self, stream: Stream) -> str:
        return f"{self.prefix}:{self.tag}:stream:{stream.value}"

    def snapshot(self, service: str) -> str:
        """Hash: the service's state snapshot and the input positions it covers."""
        return f"{self.prefix}:{self.tag}:snapshot:{service}"

    def progress(self, service: str) -> str:
        """Hash: the last event-time tick the service committed (written with its outputs)."""
        return f"{self.prefix}:{self.tag}:progress:{service}"

    def service_state(self, service: str, name: str) -> str:
        """A service's own durable structure (trading state, order log, paper venue...)."""
        return f"{self.prefix}:{self.tag}:{service}:{name}"

    def control_audit(self) -> str:
        return f"{self.prefix}:{self.tag}:stream:control_audit"


def group_name(service: str) -> str:
    """The consumer group a service reads every input stream through."""
    return service
