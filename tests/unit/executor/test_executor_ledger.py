"""Accounting over a sequence of fills equals a ledger computed by hand, to the cent (in fact to
the last digit: the books are exact decimals)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ridgeline_executor.book import Book, account_view
from ridgeline_executor.money import commission
from ridgeline_executor.orders import FillRecord, Order
from ridgeline_shared.accounting import Ledger
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce

pytestmark = pytest.mark.unit
D = Decimal
T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def fill_order(book: Book, n: int, side: OrderSide, qty: str, price: str) -> Decimal:
    """Send and fully fill one order through the book; returns the commission charged."""
    order = Order(
        client_order_id=f"RL-{n}", strategy_id="s", symbol="AAPL", side=side, order_type=OrderType.MARKET,
        quantity=D(qty), time_in_force=TimeInForce.DAY, event_time=T0, trace_id="t",
    )  # fmt: skip
    order.transition(OrderStatus.SUBMITTED)
    order.transition(OrderStatus.ACCEPTED)
    fee = commission(D(qty), D(price), bps=D(10), quantum=D("0.01"))  # 10 bps, rounded up to the cent
    book.book_fill(order, FillRecord(f"T-{n}", D(qty), D(price), fee))
    assert order.status is OrderStatus.FILLED
    return fee


def test_pnl_over_a_fill_sequence_equals_the_hand_ledger() -> None:
    book = Book(ledger=Ledger(cash=D("100000.00")))
    steps = [
        # side, qty, price      hand: commission, position after, realised by this fill, cash after
        (OrderSide.BUY, "100", "10.00", "1.00", "100", "0", "98999.00"),
        (OrderSide.BUY, "50", "11.00", "0.55", "150", "0", "98448.45"),
        # Sell 120 of 150 at avg 1550/150: realised 120 x 12.50 - 1240 = 260.
        (OrderSide.SELL, "120", "12.50", "1.50", "30", "260", "99946.95"),
        # Sell 80: closes 30 (cost 310) at 9.00 -> -40, opens a 50 short at 9.00.
        (OrderSide.SELL, "80", "9.00", "0.72", "-50", "-40", "100666.23"),
        # Buy 50 covers the short: 50 x (9.00 - 8.00) = 50.
        (OrderSide.BUY, "50", "8.00", "0.40", "0", "50", "100265.83"),
        # A new long, left open: 205.00 notional, 0.205 rounded up to 0.21.
        (OrderSide.BUY, "20", "10.25", "0.21", "20", "0", "100060.62"),
    ]
    ledger = book.ledger
    assert ledger is not None
    realised_before = D(0)
    for n, (side, qty, price, fee, position, realised, cash) in enumerate(steps):
        assert fill_order(book, n, side, qty, price) == D(fee)
        assert ledger.quantity("AAPL") == D(position)
        assert ledger.realized_pnl - realised_before == D(realised)
        assert ledger.cash == D(cash)
        realised_before = ledger.realized_pnl
    ledger.mark("AAPL", D("10.40"))
    assert ledger.realized_pnl == D("270.00")
    assert ledger.commissions == D("4.38")
    assert ledger.unrealized_pnl == D("3.00")  # 20 x (10.40 - 10.25)
    assert ledger.equity == D("100268.62")  # 100000 + 270 + 3 - 4.38
    view = account_view(ledger)
    assert view["cash"] == "100060.62" and view["equity"] == "100268.62" and view["fills"] == 6


def test_partial_close_with_a_repeating_average_keeps_equity_exact() -> None:
    book = Book(ledger=Ledger(cash=D(1000)))
    fill_order(book, 0, OrderSide.BUY, "2", "10.00")
    fill_order(book, 1, OrderSide.BUY, "1", "11.00")  # average 31/3, not a finite decimal
    fill_order(book, 2, OrderSide.SELL, "1", "12.00")
    ledger = book.ledger
    assert ledger is not None
    ledger.mark("AAPL", D("12.00"))
    # Hand: cash 1000 - 20 - 11 + 12 - fees (0.02 + 0.02 + 0.02 rounded up) = 980.94;
    # equity = cash + 2 x 12 = 1004.94; realised + unrealised = 36 - 31 = 5 before fees.
    assert ledger.cash == D("980.94")
    assert ledger.equity == D("1004.94")
    assert ledger.realized_pnl + ledger.unrealized_pnl == D(5)
    assert abs(ledger.realized_pnl - (D(12) - D(31) / 3)) < D("1e-17")


def test_book_round_trips_through_its_snapshot() -> None:
    book = Book(ledger=Ledger(cash=D(500)), last_tick=T0, commands=["C-1"], operator_commands=2)
    fill_order(book, 0, OrderSide.BUY, "3", "7.25")
    again = Book.from_dict(book.to_dict())
    assert again.to_dict() == book.to_dict()
    assert again.ledger is not None and again.ledger.cash == D("478.22")  # 500 - 21.75 - 0.03 (0.02175 up)
