"""What a service is: the streams it reads (and how they merge), what it emits, its handlers,
its snapshot. Everything here is free of I/O; :mod:`ridgeline_shared.runtime.worker` drives it.

A service sees its inputs as a sequence of event-time *ticks* (see :mod:`.merge`): for each tick,
``on_message`` for every entry in a deterministic order, then ``on_tick_end`` once. All emitted
messages of a tick, the acknowledgements of its inputs and the service's progress are committed in
one MULTI/EXEC, so a crash anywhere replays the tick from scratch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from fastapi import APIRouter
from redis import Redis
from redis.client import Pipeline

from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Message


@dataclass(frozen=True, slots=True)
class Input:
    """An input stream. ``lag=1`` marks a feedback edge (executions back into risk and blender):
    the tick at time T consumes only its entries of earlier ticks, which breaks the cycle without
    making the merge order depend on timing."""

    stream: Stream
    lag: int = 0


@dataclass(slots=True)
class Outbox:
    """What a handler produces; the worker writes it atomically with the acknowledgements."""

    messages: list[tuple[Stream, Message]] = field(default_factory=list)
    ops: list[Callable[[Pipeline], None]] = field(default_factory=list)

    def emit(self, stream: Stream, message: Message) -> None:
        self.messages.append((stream, message))

    def add_op(self, op: Callable[[Pipeline], None]) -> None:
        """Queue a write (e.g. an HSET of durable state) into the same MULTI/EXEC."""
        self.ops.append(op)


class CommandError(ValueError):
    """A control command was refused; the message becomes the 4xx reason."""


class Service(ABC):
    """Base of every service's adapter. Subclasses set the class variables and handlers."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[Input, ...]] = ()
    # Streams that carry this service's ticks: the worker appends a watermark to each per tick.
    outputs: ClassVar[tuple[Stream, ...]] = ()
    # True: the state is snapshotted in every tick's transaction and restored without replay.
    # For services whose handlers talk to the outside world (the executor and its broker), where
    # replaying inputs would repeat side effects. Otherwise snapshots are periodic and a restart
    # replays the inputs committed since the last one with outputs discarded.
    snapshot_every_tick: ClassVar[bool] = False

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.keys = Keys(settings.prefix, settings.shard)

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self, redis: Redis | None) -> None:
        """Called once after state is restored and before the first tick (I/O allowed).

        ``redis`` is None in the in-process backtest, which runs without Redis.
        """

    def ready(self) -> tuple[bool, str]:
        """Service-specific readiness (models loaded, reconciliation done...)."""
        return True, "ok"

    # -- handlers (deterministic functions of state and input) -----------------------------
    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        """One input entry of the current tick. Raising sends the entry to the dead letters."""

    def on_tick_end(self, event_time: datetime | None, out: Outbox) -> None:
        """After all entries of a tick (None: a tail tick after end of data). Batch work here."""

    def on_end_of_data(self, out: Outbox) -> None:
        """Every primary input reached end of data; the worker then forwards end of data."""

    def on_idle(self, out: Outbox) -> None:
        """Called when no tick is ready (about every ``bus.block_ms``), in paper and live modes
        only: periodic broker reconciliation, live order updates. Never in replay."""

    def poll(self, out: Outbox) -> bool:
        """Sources only (no inputs): produce the next tick; False when there is nothing now."""
        return False

    def poll_after(self) -> float | None:
        """Sources only: seconds until :meth:`poll` may have a tick (a paced replay knows), so the
        worker wakes then rather than a whole ``bus.block_ms`` later; None: not known."""
        return None

    # -- state ---------------------------------------------------------------------------
    @abstractmethod
    def snapshot(self) -> bytes:
        """Serialised state; restoring it and replaying later inputs must reproduce the state."""

    @abstractmethod
    def restore(self, data: bytes | None) -> None:
        """Restore from :meth:`snapshot` output, or reset to the initial state when None."""

    # -- control plane -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {}

    def router(self) -> APIRouter | None:
        """Extra read-only routes (``/models``, ``/weights``, ``/orders``...)."""
        return None

    commands: ClassVar[Sequence[str]] = ()

    def apply_command(self, command: str, payload: dict[str, Any], out: Outbox) -> dict[str, Any]:
        """Run an authenticated control command in the worker thread, between ticks.

        Outputs go through ``out`` and are committed like a tick's. Raise CommandError to refuse.
        """
        raise CommandError(f"unknown command {command!r}")
