"""Pooled rolling windows of a model's matured predictions: rank IC and squared error.

Pooled across the symbols of the shard (one window per model, not per symbol): the IC of a model
is a property of the model, and with one window per symbol a 500-sample window of overlapping
daily returns would be mostly noise. Within a tick, pairs are added in symbol order, so the
window's content is a deterministic function of the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ridgeline_predictor.stats import spearman

F64 = NDArray[np.float64]


class PooledWindow:
    """The last ``window`` rows of ``width`` floats."""

    def __init__(self, window: int, width: int) -> None:
        if window < 1:
            raise ValueError("window must be positive")
        self.window = window
        self.data = np.zeros((window, width), dtype=np.float64)
        self.count = 0

    def __len__(self) -> int:
        return min(self.count, self.window)

    def add(self, rows: F64) -> None:
        if rows.shape[0] == 0:
            return
        rows = rows[-self.window :]
        pos = (self.count + np.arange(rows.shape[0])) % self.window
        self.data[pos] = rows
        self.count += rows.shape[0]

    def filled(self) -> F64:
        return self.data[: len(self)]

    def export(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"data": self.data[: len(self)], "count": np.array([self.count], dtype=np.int64)}

    def load(self, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
        data = arrays["data"]
        self.count = int(arrays["count"][0])
        self.data[: data.shape[0]] = data


class ModelTracker:
    """Matured (prediction, realised return) pairs and standardised squared errors of one model.

    The rank IC over a long window is recomputed after every ``refresh_every`` new pairs, not on
    every tick; the cached values are part of the snapshot, so a restored tracker reports exactly
    what the uninterrupted one would.
    """

    def __init__(self, window: int, refresh_every: int = 1) -> None:
        self.pairs = PooledWindow(window, 2)
        self.errors = PooledWindow(window, 1)
        self.refresh_every = max(1, refresh_every)
        # ic, n pairs, mse, n errors, pairs added since the last refresh
        self.cache = np.zeros(5, dtype=np.float64)

    def add(self, raw: F64, realised: F64, z_pred: F64, z_real: F64) -> None:
        ok = np.isfinite(raw) & np.isfinite(realised)
        n_ok = int(np.count_nonzero(ok))
        if n_ok:
            rows = np.empty((n_ok, 2))
            rows[:, 0] = raw[ok]
            rows[:, 1] = realised[ok]
            self.pairs.add(rows)
        err = z_pred - z_real  # NaN wherever either side is missing
        both = np.isfinite(err)
        if both.any():
            self.errors.add((err[both] * err[both])[:, None])
        self.cache[4] += n_ok
        if self.cache[4] >= self.refresh_every:
            self.refresh()

    def refresh(self) -> None:
        data = self.pairs.filled()
        errors = self.errors.filled()
        self.cache[0] = spearman(data[:, 0], data[:, 1])
        self.cache[1] = data.shape[0]
        self.cache[2] = float(errors[:, 0].mean()) if errors.shape[0] else 0.0
        self.cache[3] = errors.shape[0]
        self.cache[4] = 0

    def ic(self) -> tuple[float, int]:
        return float(self.cache[0]), int(self.cache[1])

    def mse(self) -> tuple[float, int]:
        return float(self.cache[2]), int(self.cache[3])

    def export(self) -> dict[str, np.ndarray[Any, Any]]:
        out = {f"pairs.{k}": v for k, v in self.pairs.export().items()}
        out.update({f"errors.{k}": v for k, v in self.errors.export().items()})
        out["cache"] = self.cache.copy()
        return out

    def load(self, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
        self.pairs.load({k[6:]: v for k, v in arrays.items() if k.startswith("pairs.")})
        self.errors.load({k[7:]: v for k, v in arrays.items() if k.startswith("errors.")})
        self.cache = arrays["cache"].astype(np.float64).copy()
