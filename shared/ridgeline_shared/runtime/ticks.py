"""Running one tick through a service's handlers: shared by the Redis worker and the in-process
pipeline, so both apply the same retries, dead-letter rule and watermark forwarding."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ridgeline_shared import codec
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Watermark
from ridgeline_shared.runtime.merge import Tick
from ridgeline_shared.runtime.service import Outbox, Service

log = logging.getLogger("ridgeline.ticks")
EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(slots=True)
class Failure:
    """An entry (or a tick's batch step) that failed: bound for the dead-letter stream."""

    stream: Stream
    entry_id: str
    fields: dict[bytes, bytes]
    error: str
    attempts: int


@dataclass(slots=True)
class TickResult:
    failures: list[Failure] = field(default_factory=list)


def run_tick(
    service: Service, tick: Tick, out: Outbox, max_attempts: int, last_tick: datetime | None
) -> list[Failure]:
    """Handle every entry of ``tick`` then its end; forward the tick's watermark on the outputs.

    An entry whose handler raises is retried up to ``max_attempts`` times (its partial outputs
    dropped each time), then reported as a failure while the tick goes on.
    """
    failures: list[Failure] = []
    for entry in tick.entries:
        for attempt in range(1, max_attempts + 1):
            marks = len(out.messages), len(out.ops)
            try:
                service.on_message(entry.stream, entry.message, out)
                break
            except Exception as exc:
                del out.messages[marks[0] :], out.ops[marks[1] :]
                if attempt == max_attempts:
                    log.error(
                        "entry %s of %s failed %d times: %r", entry.entry_id, entry.stream.value, attempt, exc
                    )
                    failures.append(
                        Failure(
                            entry.stream,
                            entry.entry_id,
                            codec.encode(entry.message),
                            f"handler: {exc!r}",
                            attempt,
                        )
                    )
    try:
        service.on_tick_end(tick.event_time, out)
        if tick.end_of_data:
            service.on_end_of_data(out)
    except Exception as exc:
        log.exception("tick %s failed in on_tick_end", tick.event_time)
        failures.append(
            Failure(Stream.DEAD_LETTERS, "-", {}, f"on_tick_end at {tick.event_time}: {exc!r}", 1)
        )
    if tick.event_time is not None or tick.end_of_data:
        mark_time = tick.event_time or last_tick or EPOCH
        for stream in service.outputs:
            out.emit(
                stream,
                Watermark(
                    event_time=mark_time,
                    trace_id=f"{service.name}@{mark_time.isoformat()}",
                    producer=service.name,
                    end_of_data=tick.end_of_data,
                ),
            )
    return failures
