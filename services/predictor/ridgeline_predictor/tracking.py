"""Pooled rolling windows of a model's matured predictions: rank IC and squared error.

Pooled across the symbols of the shard (one window per model, not per symbol): the IC of a model
is a property of the model, and with one window per symbol a 500-sample window of overlapping
daily returns would be mostly noise. Within a tick, pairs are added in symbol order, so the
window's content is a deterministic function of the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ridgeline_predictor.stats import average_ranks, pearson, spearman

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]


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


class TrackerBank:
    """The trackers of every model column in one flat store: a tick adds every model's matured
    pairs in a few vectorised operations instead of a dozen small ones per model.

    Column ``j`` holds exactly what ``ModelTracker(windows[j], refresh_every[j])`` would after the
    same calls of :meth:`ModelTracker.add` (same window contents, order, counts and refresh
    points; the unit tests compare them). Column j's rings are rows
    ``offsets[j] : offsets[j] + windows[j]`` of :attr:`pairs` and :attr:`errors`.
    """

    def __init__(self, windows: Sequence[int], refresh_every: Sequence[int]) -> None:
        self.windows = np.array(windows, dtype=np.int64).reshape(-1)
        if (self.windows < 1).any():
            raise ValueError("window must be positive")
        self.refresh_every = np.maximum(1, np.array(refresh_every, dtype=np.int64).reshape(-1))
        self.offsets = np.concatenate(([0], np.cumsum(self.windows)[:-1])).astype(np.int64)
        total = int(self.windows.sum())
        self.pairs = np.zeros((total, 2), dtype=np.float64)
        self.errors = np.zeros((total, 1), dtype=np.float64)
        self.pair_count = np.zeros(self.windows.size, dtype=np.int64)
        self.error_count = np.zeros(self.windows.size, dtype=np.int64)
        # per column, as ModelTracker.cache: ic, n pairs, mse, n errors, pairs since the refresh
        self.cache = np.zeros((self.windows.size, 5), dtype=np.float64)

    def __len__(self) -> int:
        return int(self.windows.size)

    @classmethod
    def of(cls, trackers: Sequence[ModelTracker]) -> TrackerBank:
        bank = cls([t.pairs.window for t in trackers], [t.refresh_every for t in trackers])
        for j, t in enumerate(trackers):
            o, w = int(bank.offsets[j]), int(bank.windows[j])
            bank.pairs[o : o + w] = t.pairs.data
            bank.errors[o : o + w] = t.errors.data
            bank.pair_count[j] = t.pairs.count
            bank.error_count[j] = t.errors.count
            bank.cache[j] = t.cache
        return bank

    def tracker(self, j: int) -> ModelTracker:
        """A standalone copy of column ``j``."""
        o, w = int(self.offsets[j]), int(self.windows[j])
        t = ModelTracker(w, int(self.refresh_every[j]))
        t.pairs.data[:] = self.pairs[o : o + w]
        t.errors.data[:] = self.errors[o : o + w]
        t.pairs.count = int(self.pair_count[j])
        t.errors.count = int(self.error_count[j])
        t.cache = self.cache[j].copy()
        return t

    def trackers(self) -> list[ModelTracker]:
        return [self.tracker(j) for j in range(len(self))]

    def add(self, raw: F64, realised: F64, z_pred: F64, z_real: F64, matured: B) -> I64:
        """Add row i of column j where ``matured[i, j]``, rows in order, as
        ``ModelTracker.add`` of each column's matured rows would; every argument is
        ``(rows, columns)``. Returns the columns refreshed."""
        called = matured.any(axis=0)
        ok = matured & np.isfinite(raw) & np.isfinite(realised)
        added = self._push(self.pairs, self.pair_count, ok, (raw, realised))
        err = z_pred - z_real  # NaN wherever either side is missing
        both = matured & np.isfinite(err)
        self._push(self.errors, self.error_count, both, (err * err,))
        self.cache[:, 4] += added
        due = np.flatnonzero(called & (self.cache[:, 4] >= self.refresh_every))
        shared: list[tuple[F64, F64]] = []  # realised windows ranked this tick, with their ranks
        for j in due.tolist():
            self.refresh(j, shared)
        return due

    def _push(self, store: F64, count: I64, mask: B, columns: tuple[F64, ...]) -> I64:
        """Append the masked rows of each column to its ring (the last ``window`` when more come,
        as :meth:`PooledWindow.add`); returns how many rows each column got, before trimming."""
        seen = np.cumsum(mask, axis=0)  # 1-based position of a row among its column's rows
        total = seen[-1] if seen.shape[0] else np.zeros(mask.shape[1], dtype=np.int64)
        kept_n = np.minimum(total, self.windows)
        keep = mask & (total - seen < self.windows)
        rows, cols = np.nonzero(keep)
        if rows.size:
            order = seen[rows, cols] - 1 - (total - kept_n)[cols]
            index = self.offsets[cols] + (count[cols] + order) % self.windows[cols]
            for k, values in enumerate(columns):
                store[index, k] = values[rows, cols]
        count += kept_n
        return np.asarray(total, dtype=np.int64)

    def refresh(self, j: int, shared: list[tuple[F64, F64]] | None = None) -> None:
        """Recompute column ``j``'s cached IC and MSE, as :meth:`ModelTracker.refresh`.

        The models of one horizon usually hold the very same realised returns (same rows, same
        ring positions): ``shared`` carries the realised windows already ranked, so an equal
        window is ranked once (ranks are a function of the values alone).
        """
        o = int(self.offsets[j])
        n_pairs = int(min(self.pair_count[j], self.windows[j]))
        n_err = int(min(self.error_count[j], self.windows[j]))
        data = self.pairs[o : o + n_pairs]
        errors = self.errors[o : o + n_err]
        cache = self.cache[j]
        if shared is None or n_pairs < 3:
            cache[0] = spearman(data[:, 0], data[:, 1])
        else:
            realised = data[:, 1]
            ranks = next(
                (r for y, r in shared if y.shape == realised.shape and np.array_equal(y, realised)), None
            )
            if ranks is None:
                ranks = average_ranks(realised)
                shared.append((realised, ranks))
            cache[0] = pearson(average_ranks(data[:, 0]), ranks)
        cache[1] = n_pairs
        cache[2] = float(errors[:, 0].mean()) if n_err else 0.0
        cache[3] = n_err
        cache[4] = 0

    def ic(self, j: int) -> tuple[float, int]:
        return float(self.cache[j, 0]), int(self.cache[j, 1])

    def mse(self, j: int) -> tuple[float, int]:
        return float(self.cache[j, 2]), int(self.cache[j, 3])

    def export(self, j: int) -> dict[str, np.ndarray[Any, Any]]:
        """Column ``j`` in :meth:`ModelTracker.export`'s layout (snapshots stay compatible)."""
        return self.tracker(j).export()
