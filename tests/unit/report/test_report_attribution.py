"""Attribution: hand-computed per horizon and per family, and exact sums on random fill sequences."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_helpers import at, bars, execution, hand_run, order, signal

from ridgeline.report import UNATTRIBUTED, RunData, analyse, attribute, replay
from ridgeline.report.attribution import family_split, split_amount
from ridgeline_shared.accounting import to_decimal
from ridgeline_shared.messages import Decision, OrderSide

pytestmark = pytest.mark.unit

BARS = bars(120)
TICK = D("1e-8")


def test_per_horizon_by_the_lots_that_opened_the_position() -> None:
    a = analyse(hand_run()).attribution
    assert list(a.per_horizon) == ["5m", "10m", "15m", UNATTRIBUTED]
    h = a.per_horizon
    # The 15m long is closed by a horizon-less exit: its loss stays with 15m, the exit pays its commission.
    assert (h["15m"].realized, h["15m"].commission, h["15m"].total) == (D("-0.05"), D("0.001"), D("-0.051"))
    assert (h[UNATTRIBUTED].realized, h[UNATTRIBUTED].total) == (D(0), D("-0.001"))
    # The 10m short is closed by the 5m flip: 50 x (0.0989 - 0.0972) goes to 10m.
    assert (h["10m"].realized, h["10m"].total) == (D("0.085"), D("0.0845"))
    # The 5m lot left open: 100 x (0.09807 - 0.0972) unrealised, less the flip's full commission.
    assert (h["5m"].realized, h["5m"].unrealized, h["5m"].total) == (D(0), D("0.087"), D("0.0855"))
    assert [b.fills for b in h.values()] == [1, 1, 1, 1]
    assert sum(b.total for b in h.values()) == a.total_pnl == D("0.118")


def test_per_family_by_the_final_weights_of_the_chosen_horizon() -> None:
    f = analyse(hand_run()).attribution.per_family
    assert list(f) == ["gbm", "mlp", "ridge", UNATTRIBUTED]  # the 60m decoy's family never appears
    # gbm: 0.5 x (-0.05 - 0.001) + 0.25 x (0.085 - 0.0005) + 0.2 x (0.087 - 0.0015)
    assert f["gbm"].total == D("0.012725")
    assert f["ridge"].total == D("0.022925")  # 0.3 x -0.051 + 0.25 x 0.0845 + 0.2 x 0.0855
    assert f["mlp"].total == D("0.08335")  # 0.2 x -0.051 + 0.5 x 0.0845 + 0.6 x 0.0855
    assert f[UNATTRIBUTED].total == D("-0.001")
    assert sum(b.total for b in f.values()) == D("0.118")


def test_split_is_exact_with_weights_of_no_finite_decimal_ratio() -> None:
    split = family_split({"a": 1.0, "b": 1.0, "c": 1.0, "zero": 0.0})
    assert [f for f, _ in split] == ["a", "b", "c"]
    shares = split_amount(D("0.1000000000000000000001"), split)
    assert sum(s for _, s in shares) == D("0.1000000000000000000001")
    assert shares[0][1] == shares[1][1] == D("0.033333333333333333333367")
    assert family_split({"a": 0.0}) == ((UNATTRIBUTED, D(1)),)


def test_a_symbol_without_a_mark_keeps_open_lots_at_entry() -> None:
    a = attribute(hand_run(), marks={})
    assert a.per_horizon["5m"].unrealized == 0
    assert a.total_pnl == D("0.118") - D("0.087")


fills = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=len(BARS) - 1),  # bar of the order
        st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        st.decimals(min_value=D("0.001"), max_value=D(500), places=3),
        st.integers(min_value=0, max_value=40),  # price offset from the next open, in 1e-6
        st.sampled_from(["5m", "10m", "60m", None]),
        st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=3, max_size=3),
        st.decimals(min_value=D(0), max_value=D("0.01"), places=9),
    ),
    max_size=30,
)


@given(fills)
@settings(max_examples=150, deadline=None)
def test_attribution_sums_exactly_to_the_ledger_pnl(spec: list) -> None:  # type: ignore[type-arg]
    orders, signals, executions = [], [], []
    for i, (k, side, qty, offset, horizon, weights, commission) in enumerate(
        sorted(spec, key=lambda s: s[0])
    ):
        decided = BARS[k - 1]
        # Prices on an 1e-8 tick grid, as the venue's (messages carry at most 12 places).
        reference = str(to_decimal(decided.close).quantize(TICK))
        request = order(f"H{i}", decided.event_time, side, str(qty), horizon, reference)
        price = to_decimal(BARS[k].open).quantize(TICK) + D(offset) / 1_000_000
        orders.append(request)
        executions.append(execution(request, BARS[k].event_time, str(price), str(commission)))
        if horizon is not None:
            families = dict(zip(["gbm", "ridge", "mlp"], weights, strict=True))
            signals.append(signal(decided.event_time, horizon, families, Decision.BUY, decided.close))
    # One signal per (symbol, time): the last one written wins, as in attribute()'s lookup.
    run = RunData.from_messages(bars=BARS, signals=signals, orders=orders, executions=executions)
    done = replay(run, D(100))
    a = attribute(run, done.marks)
    pnl = done.curve[-1].equity - D(100)
    assert sum(b.total for b in a.per_horizon.values()) == pnl
    assert sum(b.total for b in a.per_family.values()) == pnl
    assert a.total_pnl == pnl
    assert sum(b.commission for b in a.per_family.values()) == done.ledger.commissions
    assert sum(b.fills for b in a.per_horizon.values()) == len(executions)


def test_fills_in_one_tick_apply_in_stream_order() -> None:
    buy = order("S1", at("05:00"), OrderSide.BUY, "10", "5m", "0.0994766")
    sell = order("S2", at("05:00") + timedelta(0), OrderSide.SELL, "10", "10m", "0.0994766")
    run = RunData.from_messages(
        bars=bars(3),
        orders=[buy, sell],
        executions=[execution(buy, at("05:05"), "0.0995"), execution(sell, at("05:05"), "0.0996")],
    )
    a = attribute(run, replay(run, D(100)).marks)
    assert a.per_horizon["5m"].realized == D("0.001")  # the buy opened the lot, the sell closed it
    assert a.per_horizon["10m"].realized == 0
