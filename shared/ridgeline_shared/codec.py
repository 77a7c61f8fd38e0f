"""Stream entry <-> messages.

An entry holds either one message (field ``m``: its JSON) or a *frame* (field ``f``: a JSON array
of messages), which is how the worker publishes a tick: the tick's messages on one stream and the
watermark closing it, in one entry. A frame costs one XADD, one delivery and one XACK however many
symbols the tick holds, which is what lets a 1,000-symbol tick cross a hop in milliseconds. Each
message is still validated alone: a frame's invalid item is dead-lettered by itself and the rest
of the frame goes on. The ``type`` inside a message selects its model among those the stream
admits, so a foreign type is a decode error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import (
    Bar,
    DeadLetter,
    Execution,
    ExecutorCommand,
    Message,
    OrderRequest,
    Predictions,
    RiskEvent,
    Signal,
    Watermark,
)

FIELD = b"m"
FRAME_FIELD = b"f"
MAX_ENTRY_BYTES = 1 << 20
MAX_FRAME_BYTES = 64 << 20

STREAM_TYPES: dict[Stream, tuple[type[Message], ...]] = {
    Stream.BARS: (Bar, Watermark),
    Stream.PREDICTIONS: (Predictions, Watermark),
    Stream.SIGNALS: (Signal, Watermark),
    Stream.ORDERS: (OrderRequest, ExecutorCommand, Watermark),
    Stream.RISK_EVENTS: (RiskEvent, Watermark),
    Stream.EXECUTIONS: (Execution, Watermark),
    Stream.DEAD_LETTERS: (DeadLetter,),
}


def _adapter(types: tuple[type[Message], ...]) -> TypeAdapter[Any]:
    if len(types) == 1:
        return TypeAdapter(types[0])
    # Typed Any: what a typing special form may be passed as differs across pydantic releases.
    union: Any = Annotated[Union[types], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


_ADAPTERS = {stream: _adapter(types) for stream, types in STREAM_TYPES.items()}


def _frame_adapter(stream: Stream) -> TypeAdapter[Any]:
    types = STREAM_TYPES[stream]
    item: Any = types[0] if len(types) == 1 else Annotated[Union[types], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(list[item])


_FRAME_ADAPTERS = {stream: _frame_adapter(stream) for stream in STREAM_TYPES}


class DecodeError(ValueError):
    """The entry (or one item of a frame) is not a valid message of its stream; the reason is
    fit for a dead letter. ``raw`` is the offending item's JSON where the entry was a frame."""

    def __init__(self, reason: str, raw: bytes | None = None) -> None:
        super().__init__(reason)
        self.raw = raw


def encode(message: Message) -> dict[bytes, bytes]:
    return {FIELD: message.model_dump_json().encode()}


def encode_frame(messages: Sequence[Message]) -> dict[bytes, bytes]:
    return {FRAME_FIELD: b"[" + b",".join(m.model_dump_json().encode() for m in messages) + b"]"}


def _reason(stream: Stream, exc: ValidationError) -> str:
    errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
    return f"invalid {stream.value} message: {errors}"


def decode(stream: Stream, fields: dict[bytes, bytes]) -> Message:
    """The message of a one-message entry (``m``)."""
    raw = fields.get(FIELD)
    if raw is None:
        raise DecodeError(f"entry has no {FIELD.decode()!r} field (fields: {sorted(map(repr, fields))[:8]})")
    if len(raw) > MAX_ENTRY_BYTES:
        raise DecodeError(f"entry of {len(raw)} bytes exceeds {MAX_ENTRY_BYTES}")
    try:
        message: Message = _ADAPTERS[stream].validate_json(raw)
    except ValidationError as exc:
        raise DecodeError(_reason(stream, exc)) from None
    return message


def decode_entry(stream: Stream, fields: dict[bytes, bytes]) -> list[Message | DecodeError]:
    """Every message an entry holds, in order: one for an ``m`` entry, each item of a frame.

    Raises DecodeError when the entry as a whole is unreadable; a frame's invalid item comes
    back as its DecodeError in its place, so the valid ones still count.
    """
    raw = fields.get(FRAME_FIELD)
    if raw is None:
        return [decode(stream, fields)]
    if FIELD in fields:
        raise DecodeError("entry has both a message and a frame")
    if len(raw) > MAX_FRAME_BYTES:
        raise DecodeError(f"frame of {len(raw)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        messages: list[Message] = _FRAME_ADAPTERS[stream].validate_json(raw)
        return list(messages)
    except ValidationError:
        pass  # fall through: find the invalid items and keep the others
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise DecodeError(f"frame is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise DecodeError("frame is not a JSON array")
    single = _ADAPTERS[stream]
    out: list[Message | DecodeError] = []
    for item in items:
        try:
            out.append(single.validate_python(item))
        except ValidationError as exc:
            out.append(DecodeError(_reason(stream, exc), json.dumps(item, default=str).encode()))
    return out


def messages_of(stream: Stream, fields: dict[bytes, bytes]) -> list[Message]:
    """The valid messages an entry holds (none when it is unreadable): for readers of a stream
    that are not its consumers (reports, operators), which skip what consumers dead-letter."""
    try:
        return [m for m in decode_entry(stream, fields) if not isinstance(m, DecodeError)]
    except DecodeError:
        return []
