"""An entry that could not be decoded or handled, with where it came from and why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ridgeline_shared.messages.base import Message


class DeadLetter(Message):
    """``event_time`` is the wall time of the failure: the entry's own time may be unreadable."""

    type: Literal["dead_letter"] = "dead_letter"
    stream: str
    entry_id: str
    group: str
    consumer: str
    attempts: Annotated[int, Field(ge=1)]
    error: Annotated[str, Field(max_length=4096)]
    # The original fields, decoded as UTF-8 with replacement and truncated, to inspect and replay.
    fields: dict[str, str]
