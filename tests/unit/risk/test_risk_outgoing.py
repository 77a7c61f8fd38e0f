"""Messages risk builds without validation equal, and serialise exactly as, the validated ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from risk_kit import Replay, aligned_bars, make_service, signal_for

from ridgeline_risk import outgoing
from ridgeline_shared.messages import (
    Decision,
    DenialReason,
    OrderRequest,
    OrderSide,
    RiskEvent,
    RiskEventKind,
    TradingState,
)
from ridgeline_shared.messages.trusted import can_construct

pytestmark = pytest.mark.unit

T0 = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)


def same_as_validated(message: BaseModel, kwargs: dict[str, Any]) -> None:
    validated = type(message)(**kwargs)
    assert message == validated
    assert message.model_dump_json() == validated.model_dump_json()
    assert list(message.__dict__) == list(validated.__dict__)
    assert message.model_fields_set == validated.model_fields_set


def test_the_message_models_can_be_constructed_directly() -> None:
    assert can_construct(OrderRequest) and can_construct(RiskEvent)


def test_order_requests_equal_the_validated_ones() -> None:
    rng = random.Random(3)
    for i in range(300):
        lot = Decimal(1).scaleb(-rng.randint(0, 12))
        kwargs: dict[str, Any] = {
            "event_time": T0 + timedelta(minutes=5 * i),
            "trace_id": f"sig-S{i}",
            "trace": {"ingest": rng.randint(0, 10**18), "blender": rng.randint(0, 10**18)},
            "client_order_id": f"RL-{i:024x}",
            "strategy_id": "ridgeline",
            "symbol": f"S{i % 7}",
            "side": rng.choice(list(OrderSide)),
            "quantity": rng.randint(1, 10**9) * lot,
            "target_position": rng.randint(-(10**9), 10**9) * lot,
            "reference_price": rng.randint(1, 10**12) * Decimal("1e-8"),
            "intent_seq": rng.randint(0, 3),
            "horizon": rng.choice((None, "5m", "1d")),
            "reason": rng.choice(("signal", "exit+gross_scale", "flatten")),
        }
        same_as_validated(outgoing.order_request(**kwargs), kwargs)


def test_event_times_are_made_utc_as_the_validator_makes_them() -> None:
    paris = datetime(2024, 1, 1, 1, 5, tzinfo=timezone(timedelta(hours=1)))
    kwargs: dict[str, Any] = {
        "event_time": paris,
        "trace_id": "t",
        "kind": RiskEventKind.STATE_CHANGE,
        "trading_state": TradingState.HALTED,
        "reason_code": None,
        "client_order_id": None,
        "symbol": None,
        "actor": "control",
        "detail": "x",
        "data": {},
    }
    event = outgoing.risk_event(**kwargs)
    assert event.event_time.tzinfo is UTC and event.event_time == T0
    same_as_validated(event, kwargs)
    with pytest.raises(ValueError, match="timezone-aware"):
        outgoing.risk_event(**{**kwargs, "event_time": datetime(2024, 1, 1)})


def test_risk_events_equal_the_validated_ones_with_text_cut_to_the_schema() -> None:
    kwargs: dict[str, Any] = {
        "event_time": T0,
        "trace_id": "sig-1",
        "kind": RiskEventKind.DENIAL,
        "trading_state": TradingState.ACTIVE,
        "reason_code": DenialReason.GROSS_EXPOSURE,
        "client_order_id": "RL-1",
        "symbol": "ETHBTC",
        "actor": "a" * 100,
        "detail": "d" * 2000,
        "data": {"quantity": "1.5", "value": 0.25},
    }
    event = outgoing.risk_event(**kwargs)
    assert len(event.actor) == 64 and len(event.detail) == 1024
    same_as_validated(event, {**kwargs, "actor": "a" * 64, "detail": "d" * 1024})


def test_every_message_of_a_replay_is_a_valid_one() -> None:
    """Orders, denials, a guardrail halt with its flatten, a limits change: each message decodes
    back to itself."""
    service = make_service(
        max_weight=0.2,
        limits={"max_drawdown": 0.01, "max_order_notional": 20, "max_orders_per_second": 2},
    )
    replay = Replay(service)
    rng = random.Random(1)
    for k, bars in enumerate(aligned_bars(["ADABTC", "ETHBTC", "LTCBTC", "XLMBTC"], 240, 80)):
        decisions = (Decision.BUY, Decision.SELL, Decision.HOLD)
        replay.step(
            bars, [signal_for(b, rng.choice(decisions), alpha_bps=rng.uniform(-40, 40)) for b in bars]
        )
        if k == 10:
            replay.command("limits", {"max_order_notional": 30})
    messages = [m for out in replay.outputs for m in out if isinstance(m, OrderRequest | RiskEvent)]
    kinds = {m.kind for m in messages if isinstance(m, RiskEvent)}
    assert kinds >= {
        RiskEventKind.DENIAL,
        RiskEventKind.LIMITS_CHANGED,
        RiskEventKind.GUARDRAIL_BREACH,
        RiskEventKind.STATE_CHANGE,
    }
    assert any(isinstance(m, OrderRequest) for m in messages)
    for message in messages:
        decoded = type(message).model_validate_json(message.model_dump_json())
        assert decoded == message
        assert decoded.model_dump_json() == message.model_dump_json()
