"""Interval specs (``1m`` ... ``1d``) and horizon-to-bars conversion (MATH.md preamble)."""

from __future__ import annotations

import re
from datetime import timedelta

_SPEC = re.compile(r"^(\d+)(m|h|d)$")
_UNIT_MINUTES = {"m": 1, "h": 60}

# One trading session in minutes: 24/7 crypto; a regular US equity session is 390.
CRYPTO_SESSION_MINUTES = 1440


def parse_minutes(spec: str, session_minutes: int = CRYPTO_SESSION_MINUTES) -> int:
    """Minutes in an interval or horizon spec; ``Nd`` is N trading sessions."""
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"bad interval {spec!r}: expected <int>m, <int>h or <int>d")
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise ValueError(f"bad interval {spec!r}: must be positive")
    return count * (session_minutes if unit == "d" else _UNIT_MINUTES[unit])


def interval_delta(spec: str) -> timedelta:
    return timedelta(minutes=parse_minutes(spec))


def minutes_to_bars(horizon: str, interval: str, session_minutes: int = CRYPTO_SESSION_MINUTES) -> int:
    """Bars in ``horizon`` at ``interval``; a horizon that is not a whole number of bars is an
    error, never rounded, because a rounded horizon silently trains and trades something else."""
    h = parse_minutes(horizon, session_minutes)
    b = parse_minutes(interval, session_minutes)
    if h % b:
        raise ValueError(f"horizon {horizon} is not a whole number of {interval} bars")
    return h // b
