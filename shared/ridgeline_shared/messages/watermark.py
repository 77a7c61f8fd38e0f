"""A producer's promise that nothing with an earlier or equal event time follows on this stream."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ridgeline_shared.messages.base import Message


class Watermark(Message):
    """Closes one event-time tick on a stream; ``end_of_data`` closes the stream for the run.

    Every service forwards the ticks it processed, so all services see the same tick sequence and
    can merge several input streams deterministically (see ``runtime.merge``).
    """

    type: Literal["watermark"] = "watermark"
    producer: str
    end_of_data: bool = False
    # Replay statistics attached to end-of-data (bars published, gaps, rejected rows ...).
    stats: dict[str, int] = Field(default_factory=dict)
