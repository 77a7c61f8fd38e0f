"""The ledger against hand-computed figures: exact to the last digit, not to a tolerance."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ridgeline_shared.accounting import Ledger, to_decimal

pytestmark = pytest.mark.unit


def test_hand_computed_sequence() -> None:
    ledger = Ledger(cash=D("1000"))
    ledger.apply_fill("A", D(10), D("10.5"), D("0.10"))  # cash 894.90
    assert ledger.apply_fill("A", D(-4), D("11"), D("0.05")) == D("2")  # 4 x 0.5
    assert ledger.apply_fill("A", D(-10), D("12"), D("0.05")) == D("9")  # close 6 x 1.5, open short 4 @ 12
    ledger.mark("A", D("11.5"))
    position = ledger.position("A")
    assert position.quantity == D(-4)
    assert position.avg_price == D(12)
    assert ledger.cash == D("1058.80")
    assert ledger.realized_pnl == D(11)
    assert ledger.unrealized_pnl == D(2)
    assert ledger.commissions == D("0.20")
    assert ledger.equity == D("1012.80")  # 1000 + 11 + 2 - 0.20


def test_floats_enter_through_their_shortest_repr() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal(5.330000000000001e-05) == D("0.00005330000000000001")


def test_round_trip_through_dict() -> None:
    ledger = Ledger(cash=D("10"))
    ledger.apply_fill("ETHBTC", D(3), D("0.0871"), D("0.00001"))
    assert Ledger.from_dict(ledger.to_dict()).to_dict() == ledger.to_dict()


fills = st.lists(
    st.tuples(
        st.integers(min_value=-50, max_value=50).filter(bool),
        st.decimals(min_value=D("0.00001"), max_value=D("1000"), places=5),
    ),
    min_size=1,
    max_size=60,
)


@given(fills)
def test_equity_identity_holds_exactly(sequence: list[tuple[int, D]]) -> None:
    """cash + market value == initial + realised + unrealised - commissions, with no drift."""
    ledger = Ledger(cash=D("100000"))
    for qty, price in sequence:
        ledger.apply_fill("X", D(qty), price, D("0.01"))
    ledger.mark("X", sequence[-1][1])
    expected = D("100000") + ledger.realized_pnl + ledger.unrealized_pnl - ledger.commissions
    assert ledger.equity == expected
    assert ledger.position("X").quantity == sum(D(q) for q, _ in sequence)
