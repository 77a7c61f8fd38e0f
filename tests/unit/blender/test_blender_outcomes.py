"""Realised outcomes: fills linked to the signal that caused them, matured when the horizon elapses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ridgeline_blender.outcomes import (
    Attribution,
    Fill,
    OutcomeBook,
    SignalRecord,
    contribution_shares,
    realised_net_bps,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, 14, 0, tzinfo=UTC)
DELTAS = {"5m": timedelta(minutes=5), "15m": timedelta(minutes=15)}


def fill(coid: str = "RL-1", trade: str = "T-1", **kw: object) -> Fill:
    base: dict[str, object] = {
        "symbol": "ETHBTC",
        "client_order_id": coid,
        "trade_id": trade,
        "direction": 1,
        "horizon": "15m",
        "order_event_time": T0,
        "event_time": T0 + timedelta(minutes=5),
        "quantity": 10.0,
        "price": 100.0,
        "commission": 0.5,
    }
    base.update(kw)
    return Fill(**base)  # type: ignore[arg-type]


def book_with_signal() -> OutcomeBook:
    book = OutcomeBook()
    attribution = Attribution(["gbt", "linear", "mlp"], [0.5, 0.75, -0.25], [0.2, 0.5, 0.3])
    book.record_signal("ETHBTC", SignalRecord(T0, "15m", {"15m": attribution}), timedelta(minutes=30))
    return book


def test_realised_net_by_hand() -> None:
    # Long filled at 100, close 101: +100 bps; commission 0.5 on 1,000 notional = 5 bps -> 95.
    assert realised_net_bps(1, 101.0, 100.0, 5.0) == pytest.approx(95.0)
    # Short: the same move is a loss.
    assert realised_net_bps(-1, 101.0, 100.0, 5.0) == pytest.approx(-105.0)


def test_contribution_shares_by_hand() -> None:
    # w s~ = [0.5 x 0.4, 0.3 x 1.0, 0.2 x -0.5] = [0.2, 0.3, -0.1] over 0.4.
    assert contribution_shares([0.5, 0.3, 0.2], [0.4, 1.0, -0.5]) == pytest.approx([0.5, 0.75, -0.25])
    assert contribution_shares([0.5, 0.5], [0.0, 0.0]) == [0.0, 0.0]


@settings(max_examples=200, deadline=None)
@given(
    w=st.lists(st.floats(0, 1), min_size=1, max_size=5),
    data=st.data(),
)
def test_shares_match_numpy_and_sum_to_one(w: list[float], data: st.DataObject) -> None:
    s = data.draw(st.lists(st.floats(-3, 3), min_size=len(w), max_size=len(w)))
    parts = np.array(w) * np.array(s)
    got = contribution_shares(w, s)
    if parts.sum() == 0:
        assert got == [0.0] * len(w)
        return
    assert got == pytest.approx(parts / parts.sum())
    if abs(parts.sum()) > 1e-6:
        assert sum(got) == pytest.approx(1.0)


def test_fill_matures_after_the_horizon_and_splits_by_share() -> None:
    book = book_with_signal()
    assert book.on_fill(fill(), DELTAS)
    # 15m after the fill at T0+5m -> due at T0+20m, not before.
    assert book.mature("ETHBTC", T0 + timedelta(minutes=15), 101.0) == []
    (done,) = book.mature("ETHBTC", T0 + timedelta(minutes=20), 101.0)
    assert done.horizon == "15m"
    assert done.net_bps == pytest.approx(95.0)
    assert done.rewards == pytest.approx({"gbt": 47.5, "linear": 71.25, "mlp": -23.75})
    assert done.played == {"gbt": 0.2, "linear": 0.5, "mlp": 0.3}
    assert book.pending_count() == 0


def test_partial_fills_use_vwap_and_duplicates_count_once() -> None:
    book = book_with_signal()
    assert book.on_fill(fill(trade="T-1", quantity=10.0, price=100.0, commission=0.0), DELTAS)
    assert book.on_fill(fill(trade="T-2", quantity=30.0, price=104.0, commission=0.0), DELTAS)
    assert not book.on_fill(fill(trade="T-2", quantity=30.0, price=104.0, commission=0.0), DELTAS)
    (done,) = book.mature("ETHBTC", T0 + timedelta(hours=1), 103.0)
    # VWAP = (1000 + 3120) / 40 = 103 -> 0 bps.
    assert done.net_bps == pytest.approx(0.0, abs=1e-9)


def test_unknown_signal_or_late_fill_is_not_attributed() -> None:
    book = book_with_signal()
    assert not book.on_fill(fill(order_event_time=T0 - timedelta(minutes=5)), DELTAS)
    assert book.on_fill(fill(), DELTAS)
    book.mature("ETHBTC", T0 + timedelta(minutes=20), 100.0)
    # A fill of the same order after its outcome matured cannot reopen it.
    assert not book.on_fill(fill(trade="T-9"), DELTAS)
    assert book.unattributed == 2


def test_horizon_falls_back_to_the_signals_choice() -> None:
    book = book_with_signal()
    assert book.on_fill(fill(horizon=None), DELTAS)
    assert book.pending["ETHBTC"]["RL-1"].horizon == "15m"


def test_signals_expire_after_retention() -> None:
    book = book_with_signal()
    attribution = Attribution(["gbt"], [1.0], [1.0])
    later = T0 + timedelta(minutes=35)
    book.record_signal("ETHBTC", SignalRecord(later, "5m", {"5m": attribution}), timedelta(minutes=30))
    assert list(book.signals["ETHBTC"]) == [later]
    assert not book.on_fill(fill(), DELTAS)


def test_round_trip() -> None:
    book = book_with_signal()
    book.on_fill(fill(), DELTAS)
    copy = OutcomeBook.from_dict(book.to_dict())
    assert copy.to_dict() == book.to_dict()
    assert copy.mature("ETHBTC", T0 + timedelta(minutes=20), 101.0) == book.mature(
        "ETHBTC", T0 + timedelta(minutes=20), 101.0
    )
