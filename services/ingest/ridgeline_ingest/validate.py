"""Validation before publishing.

Row rules (:class:`RowValidator`) decide whether a source row may enter a bar at all; each refusal
has a :class:`Reason` and is counted, never raised. Bar flags (:class:`QualityTracker`) annotate a
complete bar of the running interval: how many bars are missing before it (``gap_bars``; the gap
is reported, never filled with made-up prices) and whether its return jumps more than
``outlier_sigma`` rolling standard deviations (``outlier``; published, flagged for consumers).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from ridgeline_ingest.calendar import TradingCalendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.rows import RawRow, Reason

MAX_PRICE = 1e12  # the Bar schema's bounds
MAX_VOLUME = 1e18
DAY_MINUTES = 1440


class RowValidator:
    """Per-symbol row rules, in order: finite numbers, positive prices in range, OHLC consistency,
    non-negative volume, on the interval grid and inside a session, strictly increasing time
    (duplicates and out-of-order rows dropped; the first row of a time wins), not late."""

    __slots__ = ("calendar", "interval", "last_open")

    def __init__(self, interval: Interval, calendar: TradingCalendar) -> None:
        self.interval = interval
        self.calendar = calendar
        self.last_open: datetime | None = None

    def check(self, row: RawRow, closed_until: datetime | None) -> tuple[datetime, datetime] | Reason:
        """The running-interval bar ``(start, end)`` the row belongs to, or why it is refused.

        ``closed_until``: bars ending at or before it were already handed on (rows for them are late).
        """
        o, h, lo, c, v = row.open, row.high, row.low, row.close, row.volume
        if not (
            math.isfinite(o)
            and math.isfinite(h)
            and math.isfinite(lo)
            and math.isfinite(c)
            and math.isfinite(v)
        ):
            return Reason.NON_FINITE
        if o <= 0 or h <= 0 or lo <= 0 or c <= 0:
            return Reason.NON_POSITIVE_PRICE
        if h >= MAX_PRICE or v >= MAX_VOLUME:
            return Reason.OUT_OF_RANGE
        if h < o or h < c or lo > o or lo > c:
            return Reason.OHLC_INCONSISTENT
        if v < 0:
            return Reason.NEGATIVE_VOLUME
        bounds = self._bounds(row)
        if isinstance(bounds, Reason):
            return bounds
        last = self.last_open
        if last is not None:
            if row.open_time == last:
                return Reason.DUPLICATE
            if row.open_time < last:
                return Reason.OUT_OF_ORDER
        if closed_until is not None and bounds[1] <= closed_until:
            return Reason.LATE
        self.last_open = row.open_time
        return bounds

    def _bounds(self, row: RawRow) -> tuple[datetime, datetime] | Reason:
        if row.interval_minutes >= DAY_MINUTES:
            # A daily row is labelled by its trading day, whatever time of day the vendor wrote.
            if not self.interval.daily or row.interval_minutes != DAY_MINUTES:
                return Reason.MISALIGNED
            session = self.calendar.session_bounds(row.open_time.date())
            return Reason.OUTSIDE_SESSION if session is None else session
        bounds = self.calendar.bucket(row.open_time, self.interval)
        if bounds is None:
            return Reason.OUTSIDE_SESSION
        start, end = bounds
        if (row.open_time - start) % timedelta(minutes=row.interval_minutes) or row.close_time > end:
            return Reason.MISALIGNED
        return bounds


@dataclass(frozen=True, slots=True)
class Assessment:
    gap_bars: int
    outlier: bool
    # Normalised squared return to add to the volatility window (None: not comparable).
    sample: float | None
    new_session: bool


class QualityTracker:
    """Per-symbol gap and outlier flags of complete bars.

    Gaps count the bars of the running interval that the calendar expects between the previous
    bar and this one (an overnight or weekend break is no gap on an exchange calendar).

    Outliers: ``r = ln(close / previous close)`` against ``sigma`` = the root mean square of the
    last ``window`` one-bar returns (a zero mean is the right prior at bar frequencies), scaled by
    ``sqrt(1 + gap_bars)`` when bars are missing. Only after ``min_samples`` returns. The window
    takes the return winsorised at the threshold, so one bad print cannot inflate sigma and hide the
    next one, while a lasting rise in volatility still raises it. The first bar of an exchange
    session is not tested (its opening gap is not a one-bar return).
    """

    __slots__ = (
        "calendar",
        "interval",
        "min_samples",
        "prev_close",
        "prev_end",
        "sigma",
        "sumsq",
        "window",
    )

    def __init__(
        self,
        interval: Interval,
        calendar: TradingCalendar,
        outlier_sigma: float,
        window: int,
        min_samples: int,
    ) -> None:
        self.interval = interval
        self.calendar = calendar
        self.sigma = outlier_sigma
        self.min_samples = min_samples
        self.window: deque[float] = deque(maxlen=window)
        self.sumsq = 0.0
        self.prev_end: datetime | None = None
        self.prev_close: float | None = None

    def assess(self, start: datetime, end: datetime, close: float) -> Assessment:
        if self.prev_end is None or self.prev_close is None:
            return Assessment(0, False, None, True)
        gap = self.calendar.slots_between(self.prev_end, start, self.interval) if start > self.prev_end else 0
        new_session = not self.calendar.continuous and (
            self.calendar.session_of(end) != self.calendar.session_of(self.prev_end)
        )
        if new_session:
            return Assessment(gap, False, None, True)
        z = math.log(close / self.prev_close) / math.sqrt(1 + gap)
        n = len(self.window)
        outlier = False
        if n >= self.min_samples and self.sumsq > 0:
            limit = self.sigma * math.sqrt(self.sumsq / n)
            outlier = abs(z) > limit
            z = max(-limit, min(limit, z))
        return Assessment(gap, outlier, z * z, False)

    def commit(self, assessment: Assessment, end: datetime, close: float) -> None:
        if assessment.sample is not None:
            if len(self.window) == self.window.maxlen:
                self.sumsq -= self.window[0]
            self.window.append(assessment.sample)
            self.sumsq += assessment.sample
            if len(self.window) == 1:  # re-sum now and then: floating-point drift of a running sum
                self.sumsq = assessment.sample
        self.prev_end = end
        self.prev_close = close
