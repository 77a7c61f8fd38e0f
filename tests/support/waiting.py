"""Polling for a condition in tests: a bound on how long to wait, never an assertion on speed."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], what: str, limit: float = 120.0, every: float = 0.02) -> None:
    """Return once ``predicate()`` holds; fail naming ``what`` if it does not within ``limit`` s."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)
