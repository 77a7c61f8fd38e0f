"""The message models refuse what a hostile or buggy producer could send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ridgeline_shared import codec
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import (
    Bar,
    Execution,
    Fill,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Watermark,
)

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


def _bar(symbol: str) -> Bar:
    message = decode_bar(bar(symbol=symbol, trace_id=f"{symbol}@x"))
    assert isinstance(message, Bar)
    return message


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


def test_a_frame_round_trips_every_message_in_order() -> None:
    bars = [_bar(symbol=s) for s in ("AAA", "BBB", "CCC")]
    mark = Watermark(event_time=bars[0].event_time, trace_id="wm", producer="test")
    decoded = codec.decode_entry(Stream.BARS, codec.encode_frame([*bars, mark]))
    assert decoded == [*bars, mark]
    assert codec.decode_entry(Stream.BARS, codec.encode(bars[0])) == [bars[0]]


def test_a_frame_s_invalid_item_is_isolated_with_its_reason_and_raw_json() -> None:
    good = [_bar(symbol="AAA"), _bar(symbol="BBB")]
    items = [json.loads(m.model_dump_json()) for m in good]
    items.insert(1, {**items[0], "close": -1})
    decoded = codec.decode_entry(Stream.BARS, {codec.FRAME_FIELD: json.dumps(items).encode()})
    assert decoded[0] == good[0] and decoded[2] == good[1]
    bad = decoded[1]
    assert isinstance(bad, codec.DecodeError) and "close" in str(bad)
    assert bad.raw is not None and json.loads(bad.raw)["close"] == -1
    assert codec.messages_of(Stream.BARS, {codec.FRAME_FIELD: json.dumps(items).encode()}) == good


@pytest.mark.parametrize(
    "fields",
    [
        {codec.FRAME_FIELD: b"{not json"},
        {codec.FRAME_FIELD: b'{"type": "bar"}'},
        {codec.FRAME_FIELD: b"[]", codec.FIELD: b"{}"},
    ],
)
def test_an_unreadable_frame_is_a_decode_error(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(codec.DecodeError):
        codec.decode_entry(Stream.BARS, fields)
    assert codec.messages_of(Stream.BARS, fields) == []
