"""The tail of the dead-letter stream, read straight from Redis (works while services are down)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from ridgeline.ops.http import OpsError
from ridgeline.ops.views import DeadLetterEntry
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import DeadLetter


def tail(client: redis.Redis, keys: Keys, count: int) -> list[DeadLetterEntry]:
    """The last ``count`` dead letters, oldest first; an unreadable entry is reported, not skipped."""
    if count <= 0:
        return []
    raw: Any = client.xrevrange(keys.stream(Stream.DEAD_LETTERS), count=count)
    entries = []
    for entry_id, fields in reversed(raw or []):
        ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        try:
            message = codec.decode(Stream.DEAD_LETTERS, fields)
        except codec.DecodeError as exc:
            entries.append(DeadLetterEntry(ident, problem=str(exc)))
            continue
        assert isinstance(message, DeadLetter)
        entries.append(DeadLetterEntry(ident, letter=message))
    return entries


def redact(url: str) -> str:
    """The URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def read_tail(redis_url: str, keys: Keys, count: int, timeout: float = 5.0) -> list[DeadLetterEntry]:
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError as exc:
        raise OpsError(f"--redis-url {redact(redis_url)!r}: {exc}") from None
    try:
        return tail(client, keys, count)
    except redis.RedisError as exc:
        raise OpsError(f"redis: cannot read dead letters at {redact(redis_url)} ({exc})") from None
    finally:
        client.close()
