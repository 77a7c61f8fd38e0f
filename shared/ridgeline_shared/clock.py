"""Wall-clock reads, kept in one place because only traces and liveness may use them:
trading decisions read event time from messages, never this module."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def wall_ns() -> int:
    return time.time_ns()


def wall_now() -> datetime:
    return datetime.now(UTC)
