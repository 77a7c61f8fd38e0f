"""Sessions, start-of-day value, peak, daily loss and drawdown, against hand-computed cases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ridgeline_risk.config import RiskLimits
from ridgeline_risk.guardrails import Guardrails, session_key

pytestmark = pytest.mark.unit


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2018, 1, day, hour, minute, tzinfo=UTC)


def test_session_key_utc_days_with_the_boundary_bar_closing_the_old_day() -> None:
    assert session_key(t(11, 0, 0)) == date(2018, 1, 10)  # the 23:55-00:00 bar closes Jan 10
    assert session_key(t(11, 0, 5)) == date(2018, 1, 11)
    assert session_key(t(11, 23, 55)) == date(2018, 1, 11)
    assert session_key(t(11, 0, 30), 60) == date(2018, 1, 10)  # sessions start 01:00
    assert session_key(t(11, 1, 5), 60) == date(2018, 1, 11)


def test_start_of_day_peak_daily_loss_and_drawdown() -> None:
    g = Guardrails.initial(Decimal(100))
    g.update(t(10, 12), Decimal(101))
    assert (g.start_of_day, g.peak) == (Decimal(100), Decimal(101))
    g.update(t(10, 18), Decimal(99))
    assert g.daily_pnl == Decimal(-1)
    assert g.daily_loss == pytest.approx(0.01)
    assert g.drawdown == pytest.approx(2 / 101)
    assert g.breaches(RiskLimits()) == []
    g.update(t(11, 0, 5), Decimal(97))  # new session: start of day = 99, yesterday's close
    assert g.start_of_day == Decimal(99)
    assert g.daily_loss == pytest.approx(2 / 99)  # 2.02 % > 2 %
    assert g.drawdown == pytest.approx(4 / 101)
    breaches = g.breaches(RiskLimits())
    assert [b.guardrail for b in breaches] == ["daily_loss"]
    assert breaches[0].value == pytest.approx(2 / 99)
    assert [b.guardrail for b in g.breaches(RiskLimits(daily_loss=0.5, max_drawdown=0.03))] == [
        "max_drawdown"
    ]


def test_a_gain_is_no_loss_and_the_peak_only_rises() -> None:
    g = Guardrails.initial(Decimal(100))
    g.update(t(10, 1), Decimal(120))
    g.update(t(10, 2), Decimal(108))
    assert g.daily_loss == 0.0
    assert g.peak == Decimal(120)
    assert g.drawdown == pytest.approx(0.1)
    assert g.breaches(RiskLimits()) == []  # exactly 10 % is not above 10 %
    g.update(t(10, 3), Decimal("107.99"))
    assert [b.guardrail for b in g.breaches(RiskLimits())] == ["max_drawdown"]


def test_rebase_restarts_only_the_breached_measures() -> None:
    g = Guardrails.initial(Decimal(100))
    g.update(t(10, 1), Decimal(120))
    g.update(t(10, 2), Decimal(100))  # drawdown 16.7 %, daily PnL 0
    assert g.rebase(RiskLimits()) == ["max_drawdown"]
    assert (g.peak, g.start_of_day) == (Decimal(100), Decimal(100))
    assert g.breaches(RiskLimits()) == []


def test_round_trip() -> None:
    g = Guardrails.initial(Decimal(100))
    g.update(t(10, 1), Decimal("100.5"))
    assert Guardrails.from_dict(g.to_dict()) == g
