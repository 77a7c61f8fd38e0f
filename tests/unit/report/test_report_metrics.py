"""Report metrics against a hand-computed run on real ETHBTC bars (see report_helpers)."""

from __future__ import annotations

import itertools
import math
import statistics
from decimal import Decimal as D

import pytest
from report_helpers import HAND_EQUITY, at, bars, execution, hand_run, order

from ridgeline.report import ReportConfig, RunData, compute_metrics, replay
from ridgeline.report.metrics import sharpe_ratio
from ridgeline_shared.messages import OrderSide, OrderStatus, Watermark

pytestmark = pytest.mark.unit


def test_equity_curve_is_the_hand_computed_one_to_the_last_digit() -> None:
    curve = replay(hand_run(), D(100)).curve
    assert [p.time for p in curve] == [b.event_time for b in bars(8)]
    assert [p.equity for p in curve] == [D(x) for x in HAND_EQUITY]
    assert [dict(p.positions).get("ETHBTC") for p in curve] == [None, 100, 100, 100, 0, -50, 100, 100]


def test_pnl_components() -> None:
    m = compute_metrics(hand_run())
    assert m.final_equity == D("100.118")
    assert m.total_pnl == D("0.118")
    assert m.realized_pnl == D("0.035")  # -0.05 on the long, +50 x 0.0017 on the short
    assert m.unrealized_pnl == D("0.087")  # 100 x (0.09807 - 0.0972)
    assert m.costs.commissions == D("0.004")
    assert m.total_return == pytest.approx(0.00118, rel=1e-12)
    position = m.final_positions["ETHBTC"]
    assert (position.quantity, position.avg_price, position.last_price) == (D(100), D("0.0972"), D("0.09807"))


def test_max_drawdown_and_its_dates() -> None:
    dd = compute_metrics(hand_run()).drawdown
    assert dd.amount == D("100.048000000000001") - D("99.948")
    assert dd.max_drawdown == pytest.approx(0.100000000000001 / 100.048000000000001, rel=1e-12)
    assert (dd.peak_time, dd.trough_time, dd.recovery_time) == (at("05:10"), at("05:20"), at("05:30"))


def test_returns_and_sharpe() -> None:
    m = compute_metrics(hand_run())
    equity = [D(x) for x in HAND_EQUITY]
    expected = [float(b / a - 1) for a, b in itertools.pairwise(equity)]
    assert [r for _, r in m.returns] == pytest.approx(expected, rel=1e-12)
    assert m.returns[0][0] == at("05:05")
    assert m.returns[0][1] == pytest.approx(0.00018000000000001)
    assert m.periods_per_year == 105120
    sharpe = statistics.fmean(expected) / statistics.stdev(expected) * math.sqrt(105120)
    assert m.sharpe == pytest.approx(sharpe, rel=1e-12)
    assert m.sharpe == pytest.approx(93.2381, abs=1e-4)


def test_periods_per_year() -> None:
    assert ReportConfig().annualisation("5m") == 105120  # 24/7 crypto: 288 bars x 365
    assert ReportConfig().annualisation("1h") == 8760
    assert ReportConfig().annualisation("1d") == 365
    equities = ReportConfig(session_minutes=390, sessions_per_year=252)
    assert equities.annualisation("5m") == 19656
    assert equities.annualisation("1d") == 252
    assert ReportConfig(periods_per_year=52).annualisation("5m") == 52
    m = compute_metrics(hand_run(), ReportConfig(periods_per_year=4))
    assert m.sharpe == pytest.approx(93.2381 * 2 / math.sqrt(105120), rel=1e-5)


def test_sharpe_undefined_without_variation() -> None:
    assert sharpe_ratio([0.001, 0.001, 0.001], 105120) is None
    assert sharpe_ratio([0.001], 105120) is None
    flat = compute_metrics(RunData.from_messages(bars=bars(5)))
    assert flat.sharpe is None
    assert flat.final_equity == D(100)
    assert flat.drawdown.max_drawdown == 0.0
    assert flat.hit_rate is None
    assert flat.turnover == 0.0


def test_turnover_is_traded_notional_over_average_equity() -> None:
    m = compute_metrics(hand_run())
    assert m.traded_notional == D("39.375")  # 9.95 + 9.90 + 4.945 + 14.58
    average = sum((D(x) for x in HAND_EQUITY), D(0)) / 8
    assert m.average_equity == average
    assert m.turnover == pytest.approx(float(D("39.375") / average), rel=1e-12)


def test_round_trips_and_hit_rate() -> None:
    done = replay(hand_run(), D(100))
    first, second = done.round_trips
    assert (first.direction, first.realized, first.commission, first.net) == (
        1,
        D("-0.05"),
        D("0.002"),
        D("-0.052"),
    )
    # The flip's commission 0.0015 is split 50 : 100 between the closing short and the new long.
    assert (second.direction, second.realized, second.commission) == (-1, D("0.085"), D("0.001"))
    assert (second.opened, second.closed) == (at("05:25"), at("05:30"))
    assert done.open_round_trips == 1
    m = compute_metrics(hand_run())
    assert (m.round_trips_closed, m.round_trips_won, m.round_trips_open, m.hit_rate) == (2, 1, 1, 0.5)


def test_costs_paid_against_the_close_the_decision_saw() -> None:
    costs = compute_metrics(hand_run()).costs
    # (fill - close at the order's event time) x signed quantity, per fill:
    # 100 x (0.0995 - 0.0994766) + -100 x (0.0990 - 0.09900001) + -50 x (0.0989 - 0.099) + 150 x 0.0001
    assert costs.slippage == D("0.002340") + D("0.000001") + D("0.005") + D("0.015")
    assert costs.reference_notional == D("9.94766") + D("9.900001") + D("4.95") + D("14.565")
    assert costs.total == D("0.026341")
    assert costs.slippage_bps == pytest.approx(0.022341 / 39.362661 * 1e4, rel=1e-12)
    assert costs.commission_bps == pytest.approx(0.004 / 39.375 * 1e4, rel=1e-12)
    assert costs.without_reference == 0


def test_counts_denials_and_states() -> None:
    m = compute_metrics(hand_run())
    assert (m.orders, m.fills, m.signals, m.duplicate_fills) == (4, 4, 3, 0)
    assert m.orders_by_status == {"FILLED": 4}
    assert m.signals_by_decision == {"BUY": 2, "SELL": 1}
    assert m.denials == 3
    assert m.denials_by_reason == {"GROSS_EXPOSURE": 1, "MAX_NOTIONAL": 2}
    assert [c.state for c in m.state_changes] == ["REDUCING"]
    assert m.final_trading_state == "REDUCING"
    assert (m.start, m.end, m.ticks, m.interval, m.finished) == (at("05:00"), at("05:35"), 8, "5m", True)


def test_a_redelivered_fill_is_booked_once() -> None:
    run = hand_run()
    again = RunData.from_messages(
        bars=run.bars, orders=run.orders, executions=[*run.executions, run.executions[2]], finished=True
    )
    m = compute_metrics(again)
    assert (m.fills, m.duplicate_fills, m.final_equity) == (4, 1, D("100.118"))


def test_partial_fills_and_a_fill_without_reference() -> None:
    o1 = order("P1", at("05:00"), OrderSide.BUY, "10", "5m", "0.0994766")
    executions = [
        execution(o1, at("05:05"), "0.0995", "0.0001", trade_id="a", quantity="4",
                  status=OrderStatus.PARTIALLY_FILLED, sequence=1),
        execution(o1, at("05:10"), "0.0998", "0.0001", trade_id="b", quantity="6", sequence=2),
    ]  # fmt: skip
    m = compute_metrics(RunData.from_messages(bars=bars(3), orders=[o1], executions=executions))
    assert m.final_positions["ETHBTC"].quantity == 10
    assert m.final_equity == D(100) - D("0.398") - D("0.5988") - D("0.0002") + 10 * D("0.09999000000000001")
    assert m.orders_by_status == {"FILLED": 1}
    # Without its order request and bar, a fill has no reference price: counted, not guessed.
    orphan = compute_metrics(RunData.from_messages(executions=executions))
    assert orphan.costs.without_reference == 2
    assert orphan.ticks == 2  # the fill ticks alone
    # Marked at the last fill price: 4 x (0.0998 - 0.0995) unrealised, less 0.0002 commissions.
    assert orphan.final_equity == D(100) + D("0.0012") - D("0.0002")


def test_from_messages_skips_watermarks_and_reads_end_of_data() -> None:
    run = hand_run()
    wm = Watermark(event_time=at("05:35"), trace_id="wm", producer="executor")
    eod = Watermark(event_time=at("05:35"), trace_id="eod", producer="executor", end_of_data=True)
    partial = RunData.from_messages(bars=[*run.bars, wm], executions=[*run.executions, wm])
    assert not partial.finished
    assert len(partial.bars) == 8
    assert len(partial.executions) == len(run.executions)
    assert RunData.from_messages(executions=[eod]).finished
    assert not RunData.from_messages(bars=[eod]).finished  # only the executions stream's end counts
    with pytest.raises(ValueError, match="does not belong on the bars stream"):
        RunData.from_messages(bars=list(run.executions))
