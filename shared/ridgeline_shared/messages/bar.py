"""One OHLCV bar of one symbol and interval; event time is the bar's close."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ridgeline_shared.messages.base import Message, Symbol, UtcDatetime

Price = Annotated[float, Field(gt=0, lt=1e12)]


class Bar(Message):
    type: Literal["bar"] = "bar"
    symbol: Symbol
    interval: Annotated[str, Field(pattern=r"^\d+(m|h|d)$")]
    open_time: UtcDatetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0, lt=1e18)]
    # Wall time the bar reached us (equal to event_time in a historical replay). Freshness and
    # staleness are measured from it, so a replay of recorded bars reproduces live decisions.
    received_at: UtcDatetime
    # Bars missing between the previous bar of this symbol and this one (never filled in).
    gap_bars: Annotated[int, Field(ge=0)] = 0
    outlier: bool = False
    source: Annotated[str, Field(max_length=64)] = "unknown"

    @model_validator(mode="after")
    def _consistent(self) -> Bar:
        if self.high < max(self.open, self.close) or self.low > min(self.open, self.close):
            raise ValueError("inconsistent OHLC: high must be >= open/close and low <= open/close")
        if self.open_time >= self.event_time:
            raise ValueError("open_time must be before event_time (the bar close)")
        return self
