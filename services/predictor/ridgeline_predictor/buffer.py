"""Per-symbol rolling bar buffers: a ring of the last ``capacity`` bars per symbol slot.

All symbols live in one array ``(slots, capacity, 5)`` so a tick appends every symbol's bar and
gathers every feature window in one vectorised operation. The buffer holds enough bars for the
longest feature window, one session of dollar volume (capacity) and the longest horizon (to mature
predictions). After a restart it is restored from the snapshot, or refilled from the retained bars
stream by replaying bars through :meth:`ridgeline_predictor.core.PredictorCore.replay`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ridgeline_predictor.arrays import grow_rows
from ridgeline_predictor.features import CLOSE, FIELDS, VOLUME

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


class BarBuffer:
    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("buffer capacity must be at least 2 bars")
        self.capacity = capacity
        self.symbols: list[str] = []
        self.index: dict[str, int] = {}
        self.data = np.zeros((0, capacity, FIELDS), dtype=np.float64)
        self.times = np.zeros((0, capacity), dtype=np.int64)  # bar close, epoch seconds
        self.count = np.zeros(0, dtype=np.int64)  # bars ever appended per slot

    def __len__(self) -> int:
        return len(self.symbols)

    def slot(self, symbol: str) -> int:
        found = self.index.get(symbol)
        if found is not None:
            return found
        slot = len(self.symbols)
        self.symbols.append(symbol)
        self.index[symbol] = slot
        self.data = grow_rows(self.data, slot + 1, 0.0)
        self.times = grow_rows(self.times, slot + 1, 0)
        self.count = grow_rows(self.count, slot + 1, 0)
        return slot

    def last_time(self, slot: int) -> int | None:
        if self.count[slot] == 0:
            return None
        return int(self.times[slot, (self.count[slot] - 1) % self.capacity])

    def append(self, slots: I64, values: F64, times: I64) -> None:
        """One bar per slot (slots must be distinct)."""
        pos = self.count[slots] % self.capacity
        self.data[slots, pos] = values
        self.times[slots, pos] = times
        self.count[slots] += 1

    def _index(self, slots: I64, length: int) -> I64:
        start = self.count[slots] - length
        return np.asarray((start[:, None] + np.arange(length)[None, :]) % self.capacity, dtype=np.int64)

    def windows(self, slots: I64, length: int) -> F64:
        """``(len(slots), length, 5)`` of the last ``length`` bars, oldest first (need count >= length)."""
        if length > self.capacity:
            raise ValueError(f"window of {length} bars exceeds buffer capacity {self.capacity}")
        return self.data[slots[:, None], self._index(slots, length)]

    def back(self, slots: I64, bars_ago: int) -> tuple[F64, I64]:
        """Close and close time ``bars_ago`` bars before the latest (0 = the latest)."""
        pos = (self.count[slots] - 1 - bars_ago) % self.capacity
        return self.data[slots, pos, CLOSE], self.times[slots, pos]

    def dollar_volume(self, slots: I64, bars: int) -> F64:
        """Sum of close x volume over ``bars`` bars, the mean of the available ones scaled up when
        fewer exist (a symbol seen for an hour still gets a daily estimate)."""
        length = min(bars, self.capacity)
        window = self.data[slots[:, None], self._index(slots, length)]
        notional = window[:, :, CLOSE] * window[:, :, VOLUME]
        have = np.minimum(self.count[slots], length)
        valid = np.arange(length)[None, :] >= (length - have)[:, None]
        total = np.where(valid, notional, 0.0).sum(axis=1)
        return np.asarray(np.where(have > 0, total / np.maximum(have, 1) * bars, 0.0), dtype=np.float64)

    def resize(self, capacity: int) -> None:
        """Change capacity keeping each slot's most recent bars in order."""
        if capacity == self.capacity:
            return
        n = len(self.symbols)
        keep = min(capacity, self.capacity)
        data = np.zeros((self.data.shape[0], capacity, FIELDS), dtype=np.float64)
        times = np.zeros((self.times.shape[0], capacity), dtype=np.int64)
        if n:
            slots = np.arange(n, dtype=np.int64)
            idx = self._index(slots, keep)
            new_pos = (self.count[slots, None] - keep + np.arange(keep)[None, :]) % capacity
            data[slots[:, None], new_pos] = self.data[slots[:, None], idx]
            times[slots[:, None], new_pos] = self.times[slots[:, None], idx]
        self.data, self.times, self.capacity = data, times, capacity
