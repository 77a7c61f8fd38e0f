"""Fields every message on the bus carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def _utc(value: datetime) -> datetime:
    # Naive datetimes are ambiguous across hosts; refusing them keeps event time unambiguous.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Symbol = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,31}$")]


class Frozen(BaseModel):
    """Immutable, strict-shaped model: unknown fields and NaN/inf are refused at the boundary."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Message(Frozen):
    """Envelope fields: schema version, event time (UTC bar close) and per-hop wall-clock trace.

    ``trace`` maps a hop name (``ingest``, ``predictor``...) to the wall-clock publish time in
    nanoseconds. It is observability only; no decision may read it.
    """

    schema_version: Annotated[int, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    event_time: UtcDatetime
    trace_id: Annotated[str, Field(min_length=1, max_length=128)]
    trace: dict[Annotated[str, Field(max_length=32)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=16
    )

    def stamped(self, hop: str, wall_ns: int) -> Self:
        """A copy with ``hop``'s publish time added to the trace.

        Built as ``model_copy`` builds a copy, without its generic machinery: every published
        message is stamped, and the other fields are the validated, immutable ones of ``self``.
        """
        copy = self.__class__.__new__(self.__class__)
        object.__setattr__(copy, "__dict__", {**self.__dict__, "trace": {**self.trace, hop: wall_ns}})
        object.__setattr__(copy, "__pydantic_fields_set__", {*self.__pydantic_fields_set__, "trace"})
        object.__setattr__(copy, "__pydantic_extra__", None)
        object.__setattr__(copy, "__pydantic_private__", self.__pydantic_private__)
        return copy
