"""The one feature builder, shared by training and serving.

Every feature of bar t is a function of the window of the last ``L`` bars ending at t (never a later
bar), written once as an operation on arrays shaped ``(rows, L)``. Serving stacks the windows of
the symbols of a tick into such an array; training stacks every window of a symbol's history with a
sliding view. Both go through :func:`window_features` on contiguous arrays of the same width, so the
same bars give bit-identical features.

Names carry their window in minutes (``ret_15m``), never in bars: a model trained at one interval
can run at another whose bar length divides every window (MATH.md s.1); otherwise
:class:`FeatureMappingError` refuses it. Features are scale-free (log returns in bps, z-scores,
positions in a range) so symbols can be pooled, and realised volatility sums squared returns over a
fixed span of minutes so it does not depend on the bar length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ridgeline_shared.intervals import CRYPTO_SESSION_MINUTES, parse_minutes

F64 = NDArray[np.float64]

BPS = 1e4
# Column order of a bar window: open, high, low, close, volume.
OPEN, HIGH, LOW, CLOSE, VOLUME = range(5)
FIELDS = 5

KINDS = ("ret", "rvol", "range", "volz", "pos", "gap")

DEFAULT_FEATURES: tuple[str, ...] = (
    "ret_5m",
    "ret_15m",
    "ret_30m",
    "ret_60m",
    "ret_240m",
    "ret_720m",
    "rvol_60m",
    "rvol_240m",
    "rvol_720m",
    "range_5m",
    "range_60m",
    "volz_60m",
    "volz_240m",
    "pos_60m",
    "gap_240m",
)

_NAME = re.compile(r"^([a-z]+)_(\d+[mhd])$")


class FeatureMappingError(ValueError):
    """A feature cannot be computed at the running interval (unknown, or not whole bars)."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    name: str
    kind: str
    minutes: int

    def bars(self, interval_minutes: int) -> int:
        if self.minutes % interval_minutes:
            raise FeatureMappingError(
                f"feature {self.name} spans {self.minutes} min, not a whole number of "
                f"{interval_minutes}-minute bars"
            )
        return self.minutes // interval_minutes


def parse_feature(name: str, session_minutes: int = CRYPTO_SESSION_MINUTES) -> FeatureSpec:
    match = _NAME.match(name)
    if not match or match.group(1) not in KINDS:
        raise FeatureMappingError(f"unknown feature {name!r} (kinds: {', '.join(KINDS)}; e.g. ret_15m)")
    return FeatureSpec(name, match.group(1), parse_minutes(match.group(2), session_minutes))


@lru_cache(maxsize=64)
def _plan(names: tuple[str, ...], interval_minutes: int) -> tuple[tuple[str, int], ...]:
    """(kind, bars) of each feature: parsed once per feature set and interval."""
    specs = [parse_feature(n) for n in names]
    return tuple((spec.kind, spec.bars(interval_minutes)) for spec in specs)


def lookback_bars(names: Sequence[str], interval_minutes: int) -> int:
    """Bars a window must hold to compute every feature (a k-bar return needs k + 1 closes)."""
    return max(parse_feature(n).bars(interval_minutes) for n in names) + 1


def _last(w: F64, k: int) -> F64:
    return w[:, -k:]


def _ret(c: F64, k: int) -> F64:
    return np.asarray(np.log(c[:, -1] / c[:, -1 - k]) * BPS, dtype=np.float64)


def _rvol(c: F64, k: int) -> F64:
    r = np.diff(np.log(c[:, -1 - k :]), axis=1) * BPS
    return np.asarray(np.sqrt(np.sum(r * r, axis=1)), dtype=np.float64)


def _range(h: F64, lo: F64, k: int) -> F64:
    return np.asarray(
        np.log(np.max(_last(h, k), axis=1) / np.min(_last(lo, k), axis=1)) * BPS, dtype=np.float64
    )


def _volz(v: F64, k: int) -> F64:
    return _volz_of_logs(np.log1p(_last(v, k)))


def _volz_of_logs(x: F64) -> F64:
    """Volume z-score of the last bar from ``log1p(volume)`` of the window, ``(rows, k)``."""
    mean = np.mean(x, axis=1)
    std = np.std(x, axis=1)
    safe = np.where(std > 0, std, 1.0)
    return np.where(std > 0, (x[:, -1] - mean) / safe, 0.0)


def _pos(h: F64, lo: F64, c: F64, k: int) -> F64:
    return _pos_of(c, np.max(_last(h, k), axis=1), np.min(_last(lo, k), axis=1))


def _pos_of(c: F64, top: F64, bottom: F64) -> F64:
    span = top - bottom
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (c[:, -1] - bottom) / safe - 0.5, 0.0)


def _gap(c: F64, k: int) -> F64:
    return np.asarray(np.log(c[:, -1] / np.mean(_last(c, k), axis=1)) * BPS, dtype=np.float64)


def window_features(windows: F64, names: Sequence[str], interval_minutes: int) -> F64:
    """Features of the last bar of each window.

    ``windows`` is ``(rows, L, 5)`` (open, high, low, close, volume; oldest first) with ``L`` at
    least :func:`lookback_bars`. Returns ``(rows, len(names))`` float64.
    """
    if windows.ndim != 3 or windows.shape[2] != FIELDS:
        raise ValueError(f"windows must be (rows, L, {FIELDS}), got {windows.shape}")
    plan = _plan(tuple(names), interval_minutes)
    need = max((k for _, k in plan), default=0) + 1
    if windows.shape[1] < need:
        raise ValueError(f"windows hold {windows.shape[1]} bars, features need {need}")
    # open prices (column 0) are not used by the current feature set
    h, lo, c, v = (np.ascontiguousarray(windows[:, :, f]) for f in (HIGH, LOW, CLOSE, VOLUME))
    out = np.empty((windows.shape[0], len(plan)), dtype=np.float64)
    # Work shared between features is done once: every return in one array operation, the logs
    # of the longest span a kind needs, each window's high/low extremes. Element-wise functions
    # give each element the same bits whatever array it sits in, and every reduction still runs
    # over a contiguous (rows, k) array as the single-feature code does, so values are unchanged.
    rets = [j for j, (kind, _) in enumerate(plan) if kind == "ret"]
    if rets:
        back = np.array([plan[j][1] for j in rets])
        out[:, rets] = np.log(c[:, -1:] / c[:, -1 - back]) * BPS
    spans = {kind: max((k for kd, k in plan if kd == kind), default=0) for kind in ("rvol", "volz")}
    log_c = np.log(c[:, -1 - spans["rvol"] :]) if spans["rvol"] else c
    log_v = np.log1p(v[:, -spans["volz"] :]) if spans["volz"] else v
    extremes: dict[int, tuple[F64, F64]] = {}
    for j, (kind, k) in enumerate(plan):
        if kind == "ret":
            continue
        if kind in ("range", "pos") and k not in extremes:
            extremes[k] = (np.max(_last(h, k), axis=1), np.min(_last(lo, k), axis=1))
        if kind == "rvol":
            r = (log_c[:, -k:] - log_c[:, -k - 1 : -1]) * BPS
            out[:, j] = np.sqrt(np.sum(r * r, axis=1))
        elif kind == "range":
            top, bottom = extremes[k]
            out[:, j] = np.log(top / bottom) * BPS
        elif kind == "volz":
            out[:, j] = _volz_of_logs(np.ascontiguousarray(log_v[:, -k:]))
        elif kind == "pos":
            out[:, j] = _pos_of(c, *extremes[k])
        else:
            out[:, j] = _gap(c, k)
    return out


def history_features(bars: F64, names: Sequence[str], interval_minutes: int, width: int | None = None) -> F64:
    """Features of every bar of one symbol's history ``(T, 5)``; NaN where the window is short.

    ``width`` is the window length serving uses (default: the features' lookback); pass the same
    value to get bit-identical results.
    """
    need = lookback_bars(names, interval_minutes)
    width = need if width is None else width
    out = np.full((bars.shape[0], len(names)), np.nan)
    if bars.shape[0] < width:
        return out
    view = np.lib.stride_tricks.sliding_window_view(bars, width, axis=0)  # (T-w+1, 5, w)
    windows = np.ascontiguousarray(view.transpose(0, 2, 1))
    out[width - 1 :] = window_features(windows, names, interval_minutes)
    return out
