"""Predictions waiting for their horizon to pass: per (symbol slot, model column), a ring of the
last ``h`` raw predictions and z-scores, ``h`` being the column's horizon in bars.

Every column's ring lives in one flat row per slot, so a tick reads the matured predictions of
every model and stores the new ones in one gather and one scatter. Columns of one horizon group
sit side by side, so :meth:`PendingRings.group` gives the ``(slots, columns, h)`` view the
snapshot stores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ridgeline_predictor.arrays import grow_rows

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class PendingRings:
    def __init__(self, horizons: Sequence[int], groups: Sequence[I64], slots: int = 0) -> None:
        """``groups[g]``: the model columns of horizon ``horizons[g]``, ascending."""
        self.horizons = [int(h) for h in horizons]
        columns = sum(int(g.size) for g in groups)
        self.ring = np.ones(columns, dtype=np.int64)  # ring length (horizon bars) per column
        self.offset = np.zeros(columns, dtype=np.int64)  # first position of its ring in a row
        self.bases: list[int] = []  # where each group's block starts in a row
        base = 0
        for h, group in zip(self.horizons, groups, strict=True):
            self.bases.append(base)
            for k, j in enumerate(group.tolist()):
                self.ring[j] = h
                self.offset[j] = base + k * h
            base += int(group.size) * h
        self.sizes = [int(g.size) for g in groups]
        self.raw = np.full((slots, base), np.nan)
        self.z = np.full((slots, base), np.nan)

    def ensure_slots(self, slots: int) -> None:
        self.raw = grow_rows(self.raw, slots, np.nan)
        self.z = grow_rows(self.z, slots, np.nan)

    def group(self, gi: int) -> tuple[F64, F64]:
        """``(raw, z)`` views ``(slots, columns, h)`` of horizon group ``gi``."""
        h, size, base = self.horizons[gi], self.sizes[gi], self.bases[gi]
        shape = (self.raw.shape[0], size, h)
        return (
            self.raw[:, base : base + size * h].reshape(shape),
            self.z[:, base : base + size * h].reshape(shape),
        )

    def exchange(self, slots: I64, count: I64, raw: F64, z: F64) -> tuple[F64, F64]:
        """The predictions stored ``h`` bars ago for each (slot, column) (NaN if none), replaced
        by this bar's ``raw`` and ``z`` ``(len(slots), columns)``: ``count`` is each slot's bars
        including this one, so the position read is the one written ``h`` bars ago."""
        index = self.offset[None, :] + (count[:, None] - 1) % self.ring[None, :]
        rows = slots[:, None]
        past_raw = self.raw[rows, index]
        past_z = self.z[rows, index]
        self.raw[rows, index] = raw
        self.z[rows, index] = z
        return past_raw, past_z
