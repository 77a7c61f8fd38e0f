"""Pooled training rows: the serving feature builder over each symbol's history, and labels
that look forward only from the bar they belong to.

Labels are gap-aware: a label exists only when the bar ``k`` rows later is exactly ``k``
intervals later in event time, the same rule the serving IC tracker uses to mature predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ridgeline_predictor.features import BPS, CLOSE, HIGH, LOW, history_features, lookback_bars
from ridgeline_predictor.training.data import History
from ridgeline_shared.intervals import parse_minutes

F64 = NDArray[np.float64]


def _shift_ok(event_s: NDArray[np.int64], k: int, step_s: int) -> NDArray[np.bool_]:
    ok = np.zeros(event_s.shape[0], dtype=bool)
    if k < event_s.shape[0]:
        ok[:-k] = (event_s[k:] - event_s[:-k]) == k * step_s
    return ok


def forward_return_bps(history: History, k: int) -> F64:
    """``1e4 * log(close[t+k] / close[t])``; NaN when the next k bars are not contiguous."""
    step = parse_minutes(history.interval) * 60
    close = history.bars[:, CLOSE]
    out = np.full(close.shape[0], np.nan)
    ok = _shift_ok(history.event_s, k, step)
    idx = np.nonzero(ok)[0]
    out[idx] = np.log(close[idx + k] / close[idx]) * BPS
    return out


def barrier_labels(history: History, k: int) -> tuple[F64, F64]:
    """Peak: no high in the next k bars exceeds this bar's high. Valley: no low undercuts its low.

    Floats with NaN where the next k bars are not contiguous.
    """
    step = parse_minutes(history.interval) * 60
    high, low = history.bars[:, HIGH], history.bars[:, LOW]
    n = high.shape[0]
    peak = np.full(n, np.nan)
    valley = np.full(n, np.nan)
    ok = _shift_ok(history.event_s, k, step)
    if n > k:
        fut_high = np.lib.stride_tricks.sliding_window_view(high[1:], k).max(axis=1)[: n - k]
        fut_low = np.lib.stride_tricks.sliding_window_view(low[1:], k).min(axis=1)[: n - k]
        idx = np.nonzero(ok[: n - k])[0]
        peak[idx] = (fut_high[idx] <= high[idx]).astype(np.float64)
        valley[idx] = (fut_low[idx] >= low[idx]).astype(np.float64)
    return peak, valley


@dataclass(frozen=True)
class Dataset:
    """Rows of every symbol with complete features, ordered by (event time, symbol)."""

    features: tuple[str, ...]
    symbols: tuple[str, ...]
    X: NDArray[np.float32]
    event_s: NDArray[np.int64]
    symbol_idx: NDArray[np.int64]
    targets: dict[str, F64]  # horizon -> forward return in bps (NaN: no label)
    peak: F64
    valley: F64


def build_dataset(
    histories: Sequence[History],
    features: Sequence[str],
    horizon_bars: dict[str, int],
    barrier_k: int,
) -> Dataset:
    interval = histories[0].interval
    minutes = parse_minutes(interval)
    width = lookback_bars(features, minutes)
    xs, times, sym, peaks, valleys = [], [], [], [], []
    targets: dict[str, list[F64]] = {h: [] for h in horizon_bars}
    for i, history in enumerate(histories):
        if history.interval != interval:
            raise ValueError(f"mixed intervals: {history.symbol} is {history.interval}, not {interval}")
        feats = history_features(history.bars, features, minutes, width)
        keep = np.all(np.isfinite(feats), axis=1)
        xs.append(feats[keep])
        times.append(history.event_s[keep])
        sym.append(np.full(int(keep.sum()), i, dtype=np.int64))
        for horizon, k in horizon_bars.items():
            targets[horizon].append(forward_return_bps(history, k)[keep])
        peak, valley = barrier_labels(history, barrier_k)
        peaks.append(peak[keep])
        valleys.append(valley[keep])
    event_s = np.concatenate(times)
    symbol_idx = np.concatenate(sym)
    order = np.lexsort((symbol_idx, event_s))
    return Dataset(
        features=tuple(features),
        symbols=tuple(h.symbol for h in histories),
        X=np.concatenate(xs)[order].astype(np.float32),
        event_s=event_s[order],
        symbol_idx=symbol_idx[order],
        targets={h: np.concatenate(v)[order] for h, v in targets.items()},
        peak=np.concatenate(peaks)[order],
        valley=np.concatenate(valleys)[order],
    )
