"""Portfolio guardrails over time: start-of-day value per trading session, peak equity, and the
daily-loss and drawdown breaches that halt trading (MATH.md s.3).

Start-of-day value is the equity at the end of the previous session's last tick (close to close),
so the first bar of a session already counts toward that session's PnL. Sessions are UTC days
shifted by ``session_start_minutes``: the 24/7 crypto calendar. An exchange calendar would only
replace :func:`session_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from ridgeline_risk.config import RiskLimits
from ridgeline_risk.sizing import fraction

_ZERO = Decimal(0)
# The 40 digits the ratios are taken in (subtraction included).
_CTX = Context(prec=40)


def session_key(event_time: datetime, start_minutes: int = 0) -> date:
    """The trading session (a UTC day starting ``start_minutes`` after midnight) of an event time.

    Event time is a bar's close, so a tick exactly at the boundary closes the old session: the bar
    23:55-00:00 is the last of its day, and its close is that day's closing value.
    """
    return (event_time - timedelta(minutes=start_minutes, microseconds=1)).date()


@dataclass(frozen=True, slots=True)
class Breach:
    guardrail: str  # "daily_loss" | "max_drawdown"
    value: float
    limit: float


@dataclass(slots=True)
class Guardrails:
    start_of_day: Decimal
    peak: Decimal
    last_equity: Decimal
    session: date | None = None

    @classmethod
    def initial(cls, equity: Decimal) -> Guardrails:
        return cls(start_of_day=equity, peak=equity, last_equity=equity)

    def update(self, event_time: datetime, equity: Decimal, start_minutes: int = 0) -> None:
        """Once per tick, with the equity marked to the tick's bars."""
        key = session_key(event_time, start_minutes)
        if key != self.session:
            if self.session is not None:
                self.start_of_day = self.last_equity
            self.session = key
        self.peak = max(self.peak, equity)
        self.last_equity = equity

    @property
    def daily_pnl(self) -> Decimal:
        return self.last_equity - self.start_of_day

    @property
    def daily_loss(self) -> float:
        """Loss since start of day as a fraction of the start-of-day value (0 when up)."""
        if self.start_of_day <= 0:
            return 1.0 if self.daily_pnl < 0 else 0.0
        loss = _CTX.minus(_CTX.subtract(self.last_equity, self.start_of_day))
        return fraction(max(_ZERO, loss), self.start_of_day)

    @property
    def drawdown(self) -> float:
        """``(peak - value) / peak``."""
        if self.peak <= 0:
            return 1.0
        return fraction(max(_ZERO, _CTX.subtract(self.peak, self.last_equity)), self.peak)

    def breaches(self, limits: RiskLimits) -> list[Breach]:
        found = []
        daily_loss, drawdown = self.daily_loss, self.drawdown
        if daily_loss > limits.daily_loss:
            found.append(Breach("daily_loss", daily_loss, limits.daily_loss))
        if drawdown > limits.max_drawdown:
            found.append(Breach("max_drawdown", drawdown, limits.max_drawdown))
        return found

    def rebase(self, limits: RiskLimits) -> list[str]:
        """After an operator's reset: restart the breached measures from the current equity, or the
        reset would be undone by the very next tick. Returns the re-based guardrails."""
        rebased = []
        if self.daily_loss > limits.daily_loss:
            self.start_of_day = self.last_equity
            rebased.append("daily_loss")
        if self.drawdown > limits.max_drawdown:
            self.peak = self.last_equity
            rebased.append("max_drawdown")
        return rebased

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_of_day": str(self.start_of_day),
            "peak": str(self.peak),
            "last_equity": str(self.last_equity),
            "session": None if self.session is None else self.session.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guardrails:
        session = data.get("session")
        return cls(
            start_of_day=Decimal(data["start_of_day"]),
            peak=Decimal(data["peak"]),
            last_equity=Decimal(data["last_equity"]),
            session=None if session is None else date.fromisoformat(session),
        )
