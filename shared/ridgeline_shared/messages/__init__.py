"""Pydantic models of every message on the bus, one type per module."""

from ridgeline_shared.messages.bar import Bar
from ridgeline_shared.messages.base import SCHEMA_VERSION, Message
from ridgeline_shared.messages.dead_letter import DeadLetter
from ridgeline_shared.messages.enums import (
    Decision,
    DenialReason,
    ExecutorCommandKind,
    OrderSide,
    OrderStatus,
    OrderType,
    RiskEventKind,
    TimeInForce,
    TradingState,
)
from ridgeline_shared.messages.execution import Execution, Fill
from ridgeline_shared.messages.executor_command import ExecutorCommand
from ridgeline_shared.messages.order_request import OrderRequest
from ridgeline_shared.messages.prediction import BarrierPrediction, ModelPrediction, Predictions
from ridgeline_shared.messages.risk_event import RiskEvent
from ridgeline_shared.messages.signal import FamilyWeight, HorizonSignal, Signal
from ridgeline_shared.messages.watermark import Watermark

__all__ = [
    "SCHEMA_VERSION",
    "Bar",
    "BarrierPrediction",
    "DeadLetter",
    "Decision",
    "DenialReason",
    "Execution",
    "ExecutorCommand",
    "ExecutorCommandKind",
    "FamilyWeight",
    "Fill",
    "HorizonSignal",
    "Message",
    "ModelPrediction",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Predictions",
    "RiskEvent",
    "RiskEventKind",
    "Signal",
    "TimeInForce",
    "TradingState",
    "Watermark",
]
