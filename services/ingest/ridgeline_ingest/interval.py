"""The running bar interval, as ingest needs it: minutes, or one trading session (``1d``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from ridgeline_shared.intervals import CRYPTO_SESSION_MINUTES, parse_minutes

_SPEC = re.compile(r"^(\d+)(m|h|d)$")


@dataclass(frozen=True, slots=True)
class Interval:
    """``minutes`` is nominal; a ``daily`` interval is one session of the trading calendar, whose
    length varies (half days), so only the calendar knows where a daily bar starts and ends."""

    spec: str
    minutes: int
    daily: bool

    @classmethod
    def parse(cls, spec: str) -> Interval:
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"bad interval {spec!r}: expected <int>m, <int>h or 1d")
        if match.group(2) == "d":
            if int(match.group(1)) != 1:
                raise ValueError(f"bad interval {spec!r}: bars longer than one session are not supported")
            return cls(spec, CRYPTO_SESSION_MINUTES, True)
        minutes = parse_minutes(spec)
        if minutes > CRYPTO_SESSION_MINUTES or CRYPTO_SESSION_MINUTES % minutes:
            raise ValueError(
                f"bad interval {spec!r}: an intraday interval must divide a day (1440 minutes) "
                "so bars align to day boundaries"
            )
        return cls(spec, minutes, False)

    @classmethod
    def from_minutes(cls, minutes: int) -> Interval:
        if minutes == CRYPTO_SESSION_MINUTES:
            return cls("1d", minutes, True)
        if minutes % 60 == 0:
            return cls.parse(f"{minutes // 60}h")
        return cls.parse(f"{minutes}m")

    @property
    def delta(self) -> timedelta:
        return timedelta(minutes=self.minutes)
