"""Stream entry <-> message. One field ``m`` holds the message's JSON; the ``type`` inside it
selects the model among those the stream admits, so a foreign type is a decode error."""

from __future__ import annotations

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
MAX_ENTRY_BYTES = 1 << 20

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


class DecodeError(ValueError):
    """The entry is not a valid message of its stream; the reason is fit for a dead letter."""


def encode(message: Message) -> dict[bytes, bytes]:
    return {FIELD: message.model_dump_json().encode()}


def decode(stream: Stream, fields: dict[bytes, bytes]) -> Message:
    raw = fields.get(FIELD)
    if raw is None:
        raise DecodeError(f"entry has no {FIELD.decode()!r} field (fields: {sorted(map(repr, fields))[:8]})")
    if len(raw) > MAX_ENTRY_BYTES:
        raise DecodeError(f"entry of {len(raw)} bytes exceeds {MAX_ENTRY_BYTES}")
    try:
        message: Message = _ADAPTERS[stream].validate_json(raw)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise DecodeError(f"invalid {stream.value} message: {errors}") from None
    return message
