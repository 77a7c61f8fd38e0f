"""A command from risk to the executor: cancel every working order, or flatten every position."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ridgeline_shared.messages.base import Message
from ridgeline_shared.messages.enums import ExecutorCommandKind


class ExecutorCommand(Message):
    type: Literal["executor_command"] = "executor_command"
    command_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
    command: ExecutorCommandKind
    reason: Annotated[str, Field(max_length=256)]
    # An operator's command (kill switch, control endpoint) acts as soon as it is read instead of
    # at its event-time tick: a halted desk must not wait for the next bar to cancel orders.
    immediate: bool = False
