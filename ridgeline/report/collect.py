"""Read a run's streams from Redis into a :class:`RunData` (the report's only I/O on Redis)."""

from __future__ import annotations

from redis import Redis

from ridgeline.report.run_data import RunData
from ridgeline_shared import codec
from ridgeline_shared.codec import DecodeError
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Message
from ridgeline_shared.runtime.bus import xrange_after

__all__ = ["RunData", "load_run", "read_stream"]

PAGE = 10_000
STREAMS = (Stream.BARS, Stream.SIGNALS, Stream.ORDERS, Stream.EXECUTIONS, Stream.RISK_EVENTS)


def read_stream(client: Redis, key: str, stream: Stream) -> tuple[list[Message], int]:
    """Every message of ``key`` in stream order, decoded; and how many did not decode."""
    messages: list[Message] = []
    bad = 0
    for _entry_id, fields in xrange_after(client, key, None, "+", count=PAGE):
        try:
            items = codec.decode_entry(stream, fields)
        except DecodeError:
            bad += 1
            continue
        for item in items:
            if isinstance(item, DecodeError):
                bad += 1
            else:
                messages.append(item)
    return messages, bad


def load_run(redis_client: Redis, prefix: str = "ridgeline", shard: int = 0) -> RunData:
    """The run written under ``prefix`` / ``shard``. Redis must return bytes (no
    ``decode_responses``), as everywhere on the bus."""
    keys = Keys(prefix, shard)
    streams: dict[Stream, list[Message]] = {}
    undecodable = 0
    for stream in STREAMS:
        streams[stream], bad = read_stream(redis_client, keys.stream(stream), stream)
        undecodable += bad
    return RunData.from_messages(
        bars=streams[Stream.BARS],
        signals=streams[Stream.SIGNALS],
        orders=streams[Stream.ORDERS],
        executions=streams[Stream.EXECUTIONS],
        risk_events=streams[Stream.RISK_EVENTS],
        undecodable=undecodable,
    )
