"""Redis Streams operations the worker needs, each a thin function over redis-py.

Kept apart from the worker loop so the delivery contract reads in one place: groups created from
the start of the stream, batched XREADGROUP, XAUTOCLAIM of abandoned entries, lag for
back-pressure, and trimming that never passes an entry some group still needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis
from redis import Redis
from redis.client import Pipeline

from ridgeline_shared.runtime.merge import entry_key

RawEntry = tuple[str, dict[bytes, bytes]]


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def ensure_group(client: Redis, stream: str, group: str) -> None:
    """Create ``group`` reading ``stream`` from its first entry (a late-starting service still
    sees everything retained)."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_group(
    client: Redis, group: str, consumer: str, streams: Mapping[str, str], count: int, block_ms: int | None
) -> list[tuple[str, list[RawEntry]]]:
    """XREADGROUP; ``streams`` maps key -> ``>`` (new) or ``0`` (own pending)."""
    reply: Any = client.xreadgroup(group, consumer, dict(streams), count=count, block=block_ms)  # type: ignore[arg-type]
    return _entries(reply)


def _entries(reply: Any) -> list[tuple[str, list[RawEntry]]]:
    out: list[tuple[str, list[RawEntry]]] = []
    for stream, entries in reply or []:
        out.append((_s(stream), [(_s(eid), fields) for eid, fields in entries if fields is not None]))
    return out


def commit_then_read(
    client: Redis,
    pipe: Pipeline,
    group: str,
    consumer: str,
    streams: Mapping[str, str],
    count: int,
    block_ms: int,
) -> tuple[list[tuple[str, list[RawEntry]]], float]:
    """Run ``pipe``'s commands as one MULTI/EXEC, then a blocking XREADGROUP, in one round trip;
    return what was read and the seconds until the EXEC's reply.

    The consumer loop's two calls per batch (commit what was handled, read what is next) cost one
    round trip instead of two; Redis runs them in order on one connection, so the read still
    follows the commit. Any error (a refused command, EXECABORT) raises after the connection,
    whose later replies are then unknown, is dropped.
    """
    args: list[Any] = ["XREADGROUP", "GROUP", group, consumer, "COUNT", count, "BLOCK", block_ms, "STREAMS"]
    args += [*streams.keys(), *streams.values()]
    commands = [("MULTI",), *(command for command, _ in pipe.command_stack), ("EXEC",), tuple(args)]
    pool = client.connection_pool
    conn = pool.get_connection()
    started = time.perf_counter()
    try:
        conn.send_packed_command(conn.pack_commands(commands))  # type: ignore[no-untyped-call]
        failure: Exception | None = None
        for _ in range(len(commands) - 1):  # MULTI, each QUEUED, then EXEC's results
            try:
                reply = conn.read_response()
            except redis.ResponseError as exc:
                failure = failure or exc
                continue
            if isinstance(reply, list):
                failure = failure or next((r for r in reply if isinstance(r, Exception)), None)
        committed = time.perf_counter() - started
        read = _next_entries(conn)
        if failure is not None:
            raise failure
    except BaseException:
        conn.disconnect()  # type: ignore[no-untyped-call]
        raise
    finally:
        pool.release(conn)
    return _entries(client.response_callbacks["XREADGROUP"](read)), committed


def _next_entries(conn: Any) -> Any:
    """The blocking XREADGROUP's reply: a frame of its own, so a profile tells waiting for input
    from committing."""
    return conn.read_response()


def autoclaim(
    client: Redis, stream: str, group: str, consumer: str, min_idle_ms: int, count: int
) -> list[RawEntry]:
    """Take over entries another consumer left pending longer than ``min_idle_ms``."""
    claimed: list[RawEntry] = []
    start = "0-0"
    while True:
        reply: Any = client.xautoclaim(stream, group, consumer, min_idle_ms, start_id=start, count=count)
        next_start, entries = _s(reply[0]), reply[1]
        claimed.extend((_s(eid), fields) for eid, fields in entries if fields)
        if next_start == "0-0" or not entries:
            return claimed
        start = next_start


def xrange_after(
    client: Redis, stream: str, after: str | None, until: str, count: int = 1000
) -> Iterable[RawEntry]:
    """Entries with ``after`` < id <= ``until``, in chunks."""
    start = f"({after}" if after else "-"
    while True:
        chunk: Any = client.xrange(stream, min=start, max=until, count=count)
        if not chunk:
            return
        for eid, fields in chunk:
            yield _s(eid), fields
        start = f"({_s(chunk[-1][0])}"


def group_lag(client: Redis, stream: str, cap: int) -> int:
    """Largest number of entries some group of ``stream`` has not read yet (capped at ``cap``).

    Redis 7 reports it as ``lag``; where it does not (Redis 6, or after deletions) it is counted
    from the group's last delivered id. A group that has read up to the stream's last entry has
    no lag whatever Redis reports: after a restart from the AOF a group's ``entries-read`` can
    trail its last delivered id, and the ``lag`` derived from it then never falls below that gap,
    which would hold the producer back for good.
    """
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0
    newest: str | None = None  # the stream's last id: asked once, only if some group seems behind
    worst = 0
    for info in groups:
        lag = info.get("lag")
        if lag == 0:
            continue
        last = _s(info.get("last-delivered-id", "0-0"))
        if newest is None:
            tail: Any = client.xrevrange(stream, count=1)
            newest = _s(tail[0][0]) if tail else "0-0"
        if last == newest:
            continue
        if lag is None:
            lag = len(cast(Any, client.xrange(stream, min=f"({last}", max="+", count=cap + 1)))
        worst = max(worst, int(lag))
    return min(worst, cap)


def safe_trim_id(client: Redis, stream: str, keep_from: Iterable[str]) -> str | None:
    """The oldest id that must survive: every group's oldest pending entry or, with none pending,
    its next unread entry; and each of ``keep_from`` (snapshot positions services replay from)."""
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return None
    bounds: list[str] = list(keep_from)
    for info in groups:
        name = _s(info["name"])
        summary: Any = client.xpending(stream, name)
        if summary and summary.get("pending"):
            bounds.append(_s(summary["min"]))
        else:
            ms, seq = entry_key(_s(info.get("last-delivered-id", "0-0")))
            bounds.append(f"{ms}-{seq + 1}")
    if not bounds:
        return None
    return min(bounds, key=entry_key)


def trim(client: Redis, stream: str, retain: int, keep_from: Iterable[str]) -> int:
    """Trim ``stream`` to at least ``retain`` newest entries, never past :func:`safe_trim_id`."""
    length = int(client.xlen(stream))
    if length <= retain:
        return 0
    # Only the excess is read (what accumulated since the last trim), never the retained part.
    head: Any = client.xrange(stream, min="-", max="+", count=length - retain)
    ms, seq = entry_key(_s(head[-1][0]))
    enough = f"{ms}-{seq + 1}"
    safe = safe_trim_id(client, stream, keep_from)
    minid = enough if safe is None else min(enough, safe, key=entry_key)
    return int(client.xtrim(stream, minid=minid, approximate=False))
