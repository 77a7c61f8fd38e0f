"""The message models refuse what a hostile or buggy producer could send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ridgeline_shared import codec
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Execution, Fill, OrderRequest, OrderSide, OrderStatus, OrderType

pytestmark = pytest.mark.unit

CLOSE = datetime(2018, 1, 10, 5, 0, tzinfo=UTC)


def bar(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "bar", "event_time": CLOSE.isoformat(), "trace_id": "ETHBTC@x", "symbol": "ETHBTC",
        "interval": "5m", "open_time": (CLOSE - timedelta(minutes=5)).isoformat(), "open": 0.0871,
        "high": 0.0874, "low": 0.0869, "close": 0.0872, "volume": 312.5, "received_at": CLOSE.isoformat(),
    }  # fmt: skip
    base.update(changes)
    return base


def decode_bar(data: dict[str, object]) -> object:
    return codec.decode(Stream.BARS, {codec.FIELD: json.dumps(data).encode()})


def test_bar_round_trips_exactly() -> None:
    message = decode_bar(bar())
    assert isinstance(message, Bar)
    assert codec.decode(Stream.BARS, codec.encode(message)) == message


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"high": 0.0860}, "inconsistent OHLC"),
        ({"volume": -1}, "volume"),
        ({"close": "NaN"}, "close"),
        ({"open": 1e300}, "open"),
        ({"event_time": "2018-01-10T05:00:00"}, "timezone-aware"),
        ({"schema_version": 2}, "schema_version"),
        ({"type": "signal"}, "type"),
        ({"symbol": "ETH BTC; DROP"}, "symbol"),
        ({"surprise": 1}, "surprise"),
        ({"open_time": CLOSE.isoformat()}, "open_time must be before"),
    ],
)
def test_bad_bars_are_refused_with_a_reason(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(codec.DecodeError, match=needle):
        decode_bar(bar(**changes))


def test_missing_field_and_garbage_are_decode_errors() -> None:
    with pytest.raises(codec.DecodeError, match="no 'm' field"):
        codec.decode(Stream.BARS, {b"x": b"1"})
    with pytest.raises(codec.DecodeError, match="invalid bars message"):
        codec.decode(Stream.BARS, {codec.FIELD: b"{not json"})


def test_a_stream_admits_only_its_own_types() -> None:
    message = decode_bar(bar())
    with pytest.raises(codec.DecodeError):
        codec.decode(Stream.SIGNALS, codec.encode(message))  # type: ignore[arg-type]


def test_decimal_quantities_survive_the_wire_exactly() -> None:
    request = OrderRequest(
        event_time=CLOSE, trace_id="t", client_order_id="RL-abc", strategy_id="s", symbol="ETHBTC",
        side=OrderSide.BUY, quantity=Decimal("0.1"), target_position=Decimal("0.3"),
        reference_price=Decimal("0.08712345"), reason="test",
    )  # fmt: skip
    decoded = codec.decode(Stream.ORDERS, codec.encode(request))
    assert isinstance(decoded, OrderRequest)
    assert decoded.quantity == Decimal("0.1") and decoded.reference_price == Decimal("0.08712345")


def test_limit_orders_need_a_price() -> None:
    with pytest.raises(ValueError, match="limit_price"):
        OrderRequest(
            event_time=CLOSE, trace_id="t", client_order_id="RL-abc", strategy_id="s", symbol="ETHBTC",
            side=OrderSide.SELL, quantity=Decimal(1), order_type=OrderType.LIMIT, target_position=Decimal(0),
            reference_price=Decimal(1), reason="test",
        )  # fmt: skip


def test_execution_carries_fill_money_as_decimal() -> None:
    execution = Execution(
        event_time=CLOSE, trace_id="t", client_order_id="RL-abc", strategy_id="s", symbol="ETHBTC",
        side=OrderSide.BUY, order_type=OrderType.MARKET, status=OrderStatus.FILLED, quantity=Decimal(3),
        filled_quantity=Decimal(3), avg_fill_price=Decimal("0.0871"), sequence=2,
        fill=Fill(
            trade_id="T-1", quantity=Decimal(3), price=Decimal("0.0871"), commission=Decimal("0.00002613")
        ),
    )  # fmt: skip
    decoded = codec.decode(Stream.EXECUTIONS, codec.encode(execution))
    assert decoded == execution
