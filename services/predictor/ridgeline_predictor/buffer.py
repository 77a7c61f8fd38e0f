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
    """Each slot's ring is stored twice in its row (position ``p`` and ``p + capacity``), so the
    last ``L`` bars of any slot are one contiguous run: a tick copies every symbol's window as a
    block instead of gathering it bar by bar through an index array. Close x volume is kept
    beside the bars (the same product a tick would compute) for the session's dollar volume."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("buffer capacity must be at least 2 bars")
        self.capacity = capacity
        self.symbols: list[str] = []
        self.index: dict[str, int] = {}
        self._bars = np.zeros((0, 2 * capacity, FIELDS), dtype=np.float64)
        self._notional = np.zeros((0, 2 * capacity), dtype=np.float64)
        self.times = np.zeros((0, capacity), dtype=np.int64)  # bar close, epoch seconds
        self.count = np.zeros(0, dtype=np.int64)  # bars ever appended per slot
        self._runs: dict[tuple[str, int], F64] = {}  # sliding views, rebuilt when arrays change

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def data(self) -> F64:
        """``(slots, capacity, 5)``: the ring, bar ``k`` of a slot at position ``k % capacity``."""
        return self._bars[:, : self.capacity]

    def slot(self, symbol: str) -> int:
        found = self.index.get(symbol)
        if found is not None:
            return found
        slot = len(self.symbols)
        self.symbols.append(symbol)
        self.index[symbol] = slot
        self._bars = grow_rows(self._bars, slot + 1, 0.0)
        self._notional = grow_rows(self._notional, slot + 1, 0.0)
        self.times = grow_rows(self.times, slot + 1, 0)
        self.count = grow_rows(self.count, slot + 1, 0)
        self._runs.clear()
        return slot

    def last_time(self, slot: int) -> int | None:
        if self.count[slot] == 0:
            return None
        return int(self.times[slot, (self.count[slot] - 1) % self.capacity])

    def _write(self, slots: I64, pos: I64, values: F64) -> None:
        """Bars at ring positions ``pos`` (both copies) and their close x volume."""
        notional = values[..., CLOSE] * values[..., VOLUME]
        for at in (pos, pos + self.capacity):
            self._bars[slots, at] = values
            self._notional[slots, at] = notional

    def append(self, slots: I64, values: F64, times: I64) -> None:
        """One bar per slot (slots must be distinct)."""
        pos = self.count[slots] % self.capacity
        self._write(slots, pos, values)
        self.times[slots, pos] = times
        self.count[slots] += 1

    def load(self, data: F64, times: I64, count: I64) -> None:
        """Set the first ``len(count)`` slots from :attr:`data`, :attr:`times` and :attr:`count`
        as exported (a snapshot)."""
        n = count.shape[0]
        slots = np.arange(n, dtype=np.int64)[:, None]
        pos = np.arange(self.capacity, dtype=np.int64)[None, :]
        self._write(slots, pos, data)
        self.times[:n] = times
        self.count[:n] = count

    def _runs_of(self, name: str, length: int) -> F64:
        """Every run of ``length`` positions of each doubled row, as a view (made once per shape:
        making it costs more than a one-symbol tick's gather)."""
        key = (name, length)
        runs = self._runs.get(key)
        if runs is None:
            array = self._bars if name == "bars" else self._notional
            runs = np.lib.stride_tricks.sliding_window_view(array, length, axis=1)
            self._runs[key] = runs
        return runs

    def _start(self, slots: I64, length: int) -> I64:
        """Where each slot's last ``length`` bars begin in its doubled row."""
        return np.asarray((self.count[slots] - 1) % self.capacity + self.capacity - length + 1)

    def windows(self, slots: I64, length: int) -> F64:
        """``(len(slots), length, 5)`` of the last ``length`` bars, oldest first (need count >= length)."""
        if length > self.capacity:
            raise ValueError(f"window of {length} bars exceeds buffer capacity {self.capacity}")
        runs = self._runs_of("bars", length)  # (slots, 2 x capacity - length + 1, 5, length)
        return np.asarray(runs[slots, self._start(slots, length)].transpose(0, 2, 1))

    def back(self, slots: I64, bars_ago: I64 | int) -> tuple[F64, I64]:
        """Close and close time ``bars_ago`` bars before the latest (0 = the latest); with an
        array of ``bars_ago``, ``(len(slots), len(bars_ago))`` of them."""
        ago = np.asarray(bars_ago)
        counts = self.count[slots] if ago.ndim == 0 else self.count[slots][:, None]
        rows = slots if ago.ndim == 0 else slots[:, None]
        pos = (counts - 1 - ago) % self.capacity
        return self._bars[rows, pos, CLOSE], self.times[rows, pos]

    def dollar_volume(self, slots: I64, bars: int) -> F64:
        """Sum of close x volume over ``bars`` bars, the mean of the available ones scaled up when
        fewer exist (a symbol seen for an hour still gets a daily estimate)."""
        length = min(bars, self.capacity)
        runs = self._runs_of("notional", length)
        notional = runs[slots, self._start(slots, length)]  # (n, length), oldest first
        have = np.minimum(self.count[slots], length)
        if not (have >= length).all():
            valid = np.arange(length)[None, :] >= (length - have)[:, None]
            notional = np.where(valid, notional, 0.0)
        total = notional.sum(axis=1)
        return np.asarray(np.where(have > 0, total / np.maximum(have, 1) * bars, 0.0), dtype=np.float64)

    def resize(self, capacity: int) -> None:
        """Change capacity keeping each slot's most recent bars in order."""
        if capacity == self.capacity:
            return
        n = len(self.symbols)
        keep = min(capacity, self.capacity)
        rows = self._bars.shape[0]
        old_data, old_times = self.data, self.times
        self._bars = np.zeros((rows, 2 * capacity, FIELDS), dtype=np.float64)
        self._notional = np.zeros((rows, 2 * capacity), dtype=np.float64)
        self.times = np.zeros((rows, capacity), dtype=np.int64)
        self._runs.clear()
        if n:
            slots = np.arange(n, dtype=np.int64)[:, None]
            ages = np.arange(keep)[None, :]
            old_pos = (self.count[:n, None] - keep + ages) % self.capacity
            new_pos = (self.count[:n, None] - keep + ages) % capacity
            bars = old_data[slots, old_pos]
            self.capacity = capacity
            self._write(slots, new_pos, bars)
            self.times[slots, new_pos] = old_times[slots, old_pos]
        self.capacity = capacity
