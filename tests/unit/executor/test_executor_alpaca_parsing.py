"""Alpaca's models <-> the broker protocol (pure): statuses, signs, our client order id."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.models import TradeAccount
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from ridgeline_executor.brokers.alpaca import parsing
from ridgeline_executor.brokers.base import OrderSpec
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

pytestmark = pytest.mark.unit
NOW = "2024-03-01T14:30:00Z"


def alpaca_order(**changes: Any) -> AlpacaOrder:
    data: dict[str, Any] = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "RL-0123456789abcdef01234567",
        "created_at": NOW, "updated_at": NOW, "submitted_at": NOW, "symbol": "AAPL",
        "asset_class": "us_equity",
        "qty": "15", "filled_qty": "0", "filled_avg_price": None, "order_class": "", "type": "market",
        "side": "buy", "time_in_force": "day", "status": "new", "extended_hours": False,
    }  # fmt: skip
    data.update(changes)
    return AlpacaOrder(**data)


@pytest.mark.parametrize(
    ("raw", "filled", "expected"),
    [
        ("new", "0", OrderStatus.ACCEPTED),
        ("pending_new", "0", OrderStatus.ACCEPTED),
        ("accepted", "3", OrderStatus.PARTIALLY_FILLED),
        ("partially_filled", "3", OrderStatus.PARTIALLY_FILLED),
        ("filled", "15", OrderStatus.FILLED),
        ("pending_cancel", "0", OrderStatus.PENDING_CANCEL),
        ("canceled", "3", OrderStatus.CANCELED),
        ("replaced", "0", OrderStatus.CANCELED),
        ("done_for_day", "0", OrderStatus.EXPIRED),
        ("expired", "0", OrderStatus.EXPIRED),
        ("rejected", "0", OrderStatus.REJECTED),
    ],
)
def test_status_mapping(raw: str, filled: str, expected: OrderStatus) -> None:
    avg = "187.25" if filled != "0" else None
    parsed = parsing.parse_order(alpaca_order(status=raw, filled_qty=filled, filled_avg_price=avg))
    assert parsed.status is expected
    assert parsed.filled_quantity == Decimal(filled)


def test_order_fields_are_exact_decimals_and_keep_our_client_id() -> None:
    parsed = parsing.parse_order(
        alpaca_order(status="partially_filled", filled_qty="4", filled_avg_price="187.2512", type="limit",
                     limit_price="187.30", side="sell")
    )  # fmt: skip
    assert parsed.client_order_id == "RL-0123456789abcdef01234567"
    assert parsed.venue_order_id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
    assert parsed.side is OrderSide.SELL and parsed.order_type is OrderType.LIMIT
    assert parsed.avg_fill_price == Decimal("187.2512") and parsed.limit_price == Decimal("187.30")
    assert parsed.quantity == Decimal(15) and parsed.fills == ()


def test_unknown_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="unknown Alpaca order status"):
        parsing.map_status("teleported", Decimal(0))


def test_requests_carry_our_client_order_id() -> None:
    when = datetime(2024, 3, 1, tzinfo=UTC)
    market = parsing.order_request(
        OrderSpec("RL-x", "AAPL", OrderSide.BUY, OrderType.MARKET, Decimal("2.5"), TimeInForce.GTC, when)
    )
    assert isinstance(market, MarketOrderRequest)
    fields = market.to_request_fields()
    assert fields["client_order_id"] == "RL-x" and fields["qty"] == 2.5 and fields["side"] == "buy"
    limit = parsing.order_request(
        OrderSpec(
            "RL-y", "AAPL", OrderSide.SELL, OrderType.LIMIT, Decimal(1), TimeInForce.IOC, when, Decimal("9.5")
        )
    )
    assert isinstance(limit, LimitOrderRequest)
    assert limit.to_request_fields()["limit_price"] == 9.5
    assert limit.to_request_fields()["time_in_force"] == "ioc"


def test_short_positions_are_negative_and_account_is_exact() -> None:
    short = AlpacaPosition(
        asset_id="b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", symbol="TSLA", exchange="NASDAQ",
        asset_class="us_equity",
        avg_entry_price="200.10", qty="7", side="short", cost_basis="-1400.70",
    )  # fmt: skip
    assert parsing.parse_position(short).quantity == Decimal(-7)
    account = TradeAccount(
        id="2f0f4c2e-9a4f-4f8b-9a55-6f1f2f8b1e11", account_number="PA1", status="ACTIVE", currency="USD",
        cash="100000.01", equity="100250.5", buying_power="200000",
    )  # fmt: skip
    parsed = parsing.parse_account(account)
    assert parsed.cash == Decimal("100000.01") and parsed.equity == Decimal("100250.5")
