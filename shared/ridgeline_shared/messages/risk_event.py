"""Denials, trading-state changes, guardrail breaches and limit changes, for audit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ridgeline_shared.messages.base import Message
from ridgeline_shared.messages.enums import DenialReason, RiskEventKind, TradingState


class RiskEvent(Message):
    type: Literal["risk_event"] = "risk_event"
    kind: RiskEventKind
    trading_state: TradingState
    reason_code: DenialReason | None = None
    client_order_id: str | None = None
    symbol: str | None = None
    actor: Annotated[str, Field(max_length=64)] = "risk"
    detail: Annotated[str, Field(max_length=1024)] = ""
    data: dict[str, Any] = Field(default_factory=dict)
