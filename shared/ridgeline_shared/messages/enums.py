"""Enumerations shared by orders, executions and risk events."""

from __future__ import annotations

from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class OrderStatus(StrEnum):
    """DESIGN.md order states. DENIED (our risk refused, never sent) is not REJECTED (the venue)."""

    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    PENDING_CANCEL = "PENDING_CANCEL"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class Decision(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class ExecutorCommandKind(StrEnum):
    CANCEL_ALL = "CANCEL_ALL"
    FLATTEN = "FLATTEN"


class RiskEventKind(StrEnum):
    DENIAL = "DENIAL"
    STATE_CHANGE = "STATE_CHANGE"
    GUARDRAIL_BREACH = "GUARDRAIL_BREACH"
    LIMITS_CHANGED = "LIMITS_CHANGED"


class DenialReason(StrEnum):
    """Machine-readable reason codes of the pre-trade checks and guardrails."""

    MAX_QUANTITY = "MAX_QUANTITY"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    PRICE_COLLAR = "PRICE_COLLAR"
    ORDER_RATE = "ORDER_RATE"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    TRADING_HALTED = "TRADING_HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    CONCENTRATION = "CONCENTRATION"
    GROSS_EXPOSURE = "GROSS_EXPOSURE"
    NO_PRICE = "NO_PRICE"
