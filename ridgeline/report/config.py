"""Report settings: the figures a report needs that the streams do not carry."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from ridgeline_shared.config import FrozenConfig
from ridgeline_shared.intervals import CRYPTO_SESSION_MINUTES, parse_minutes


class ReportConfig(FrozenConfig):
    # The account's starting cash (quote currency): equal to risk's and the paper venue's.
    initial_cash: Annotated[Decimal, Field(gt=0)] = Decimal(100)
    # Annualisation of the Sharpe ratio. None: derived from the bar interval as
    # session_minutes x sessions_per_year / interval minutes (24/7 crypto at 5m: 105120).
    periods_per_year: Annotated[float, Field(gt=0)] | None = None
    session_minutes: Annotated[int, Field(ge=1, le=1440)] = CRYPTO_SESSION_MINUTES
    sessions_per_year: Annotated[int, Field(ge=1, le=366)] = 365
    # Used when the run has no bars to read the interval from.
    interval: str = "5m"
    # Significant digits kept for floats in metrics.json (decimals are written exactly).
    float_digits: Annotated[int, Field(ge=3, le=17)] = 10

    def annualisation(self, interval: str) -> float:
        if self.periods_per_year is not None:
            return self.periods_per_year
        minutes = parse_minutes(interval, self.session_minutes)
        return self.session_minutes * self.sessions_per_year / minutes
