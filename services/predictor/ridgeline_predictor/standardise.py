"""Rolling z-score standardisation (MATH.md s.1): one window per (symbol slot, column), where a
column is a model (or a horizon, for realised returns), updated for every symbol and column of a
tick in one vectorised step.

``z = clip((x - mean) / std, -clip, clip)`` with the mean and sample standard deviation of the
window of *earlier* values (the value being scored is added after), and only once the window holds
``min_samples`` values; before that the result is NaN (warming up). A constant window gives z = 0.

Sums are kept incrementally and recomputed exactly from the window each time a window wraps, so
rounding drift stays bounded; the snapshot stores the window and the sums bit-for-bit, so a
restored standardiser continues exactly as the uninterrupted one. Window storage is allocated as it
fills (doubling up to ``window``), so a large universe pays only for the history it has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ridgeline_predictor.arrays import grow_rows

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class RollingStandardiser:
    def __init__(
        self,
        window: int,
        min_samples: int,
        clip: float,
        dtype: DTypeLike = np.float64,
        slots: int = 0,
        columns: int = 1,
    ) -> None:
        if window < 2 or not 2 <= min_samples <= window:
            raise ValueError("need window >= 2 and 2 <= min_samples <= window")
        self.window = window
        self.min_samples = min_samples
        self.clip = clip
        self.columns = columns
        self.values: np.ndarray[Any, Any] = np.zeros((slots, columns, min(window, 16)), dtype=dtype)
        self.count = np.zeros((slots, columns), dtype=np.int64)
        self.s1 = np.zeros((slots, columns), dtype=np.float64)
        self.s2 = np.zeros((slots, columns), dtype=np.float64)

    def ensure_slots(self, slots: int) -> None:
        self.values = grow_rows(self.values, slots, 0.0)
        self.count = grow_rows(self.count, slots, 0)
        self.s1 = grow_rows(self.s1, slots, 0.0)
        self.s2 = grow_rows(self.s2, slots, 0.0)

    def _as2d(self, x: F64) -> F64:
        return x.reshape(-1, 1) if x.ndim == 1 and self.columns == 1 else x

    def score(self, slots: I64, x: F64) -> F64:
        """z-scores of ``x`` ``(len(slots), columns)`` against the current windows (NaN while
        warming up or where x is NaN)."""
        x2 = self._as2d(x)
        n = np.minimum(self.count[slots], self.window).astype(np.float64)
        ready = (n >= self.min_samples) & np.isfinite(x2)
        safe_n = np.where(ready, n, 2.0)
        s1 = self.s1[slots]
        mean = s1 / safe_n
        std = np.sqrt(np.maximum((self.s2[slots] - s1 * mean) / (safe_n - 1.0), 0.0))
        positive = std > 0
        z = np.where(positive, (x2 - mean) / np.where(positive, std, 1.0), 0.0)
        out = np.where(ready, np.clip(z, -self.clip, self.clip), np.nan)
        return out.reshape(x.shape)

    def add(self, slots: I64, x: F64) -> None:
        """Push ``x`` into the windows (NaN values are ignored). Slots must be distinct."""
        x2 = self._as2d(x)
        finite = np.isfinite(x2)
        columns = np.arange(self.columns, dtype=np.int64)
        if finite.all():  # the usual tick: every cell, in row-major order
            cell = (slots[:, None] * self.columns + columns[None, :]).ravel()
            xs = x2.ravel()
        else:
            rows, cols = np.nonzero(finite)
            if rows.size == 0:
                return
            cell = slots[rows] * self.columns + cols
            xs = x2[rows, cols]
        # (slot, column) cells as flat indices: 1-D takes instead of 2-D fancy indexing.
        stored = xs.astype(self.values.dtype).astype(np.float64)
        count_flat, s1, s2 = _flat(self.count), _flat(self.s1), _flat(self.s2)
        count = count_flat[cell]
        need = int(count.max()) + 1
        width = self.values.shape[2]
        if need > width and width < self.window:
            grown = np.zeros(
                (*self.values.shape[:2], min(self.window, max(need, 2 * width))), self.values.dtype
            )
            grown[:, :, :width] = self.values
            self.values = grown
            width = grown.shape[2]
        values = _flat(self.values)
        at = cell * width + count % self.window
        old = np.where(count >= self.window, values[at].astype(np.float64), 0.0)
        s1[cell] += stored - old
        s2[cell] += stored * stored - old * old
        values[at] = stored
        count_flat[cell] = count + 1
        wrapped = np.nonzero((count + 1) % self.window == 0)[0]
        if wrapped.size:
            ws, wc = np.divmod(cell[wrapped], self.columns)
            exact = self.values[ws, wc].astype(np.float64)
            self.s1[ws, wc] = exact.sum(axis=1)
            self.s2[ws, wc] = (exact * exact).sum(axis=1)

    def update(self, slots: I64, x: F64) -> F64:
        """Score against the earlier window, then add: the per-bar operation."""
        z = self.score(slots, x)
        self.add(slots, x)
        return z

    def remap(self, sources: list[int | None]) -> RollingStandardiser:
        """A standardiser whose column j continues column ``sources[j]`` (None: a fresh one)."""
        out = RollingStandardiser(
            self.window, self.min_samples, self.clip, self.values.dtype, self.values.shape[0], len(sources)
        )
        out.values = np.zeros((self.values.shape[0], len(sources), self.values.shape[2]), self.values.dtype)
        for j, src in enumerate(sources):
            if src is not None:
                out.values[:, j] = self.values[:, src]
                out.count[:, j] = self.count[:, src]
                out.s1[:, j] = self.s1[:, src]
                out.s2[:, j] = self.s2[:, src]
        return out

    # -- snapshot ----------------------------------------------------------------------------
    def export(self, slots: int) -> dict[str, np.ndarray[Any, Any]]:
        return {
            "values": self.values[:slots],
            "count": self.count[:slots],
            "s1": self.s1[:slots],
            "s2": self.s2[:slots],
        }

    def load(self, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
        self.values = arrays["values"].astype(self.values.dtype).copy()
        self.count = arrays["count"].astype(np.int64).copy()
        self.s1 = arrays["s1"].astype(np.float64).copy()
        self.s2 = arrays["s2"].astype(np.float64).copy()
        self.columns = self.count.shape[1]


def _flat(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A 1-D view that writes through (every state array here is made C-contiguous)."""
    if not array.flags.c_contiguous:
        raise ValueError("standardiser state must be C-contiguous")
    return array.reshape(-1)
