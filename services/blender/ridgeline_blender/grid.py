"""The tick's prediction entries laid out for the blend, as they arrive.

Row ``r`` is one Predictions message; column ``h * k + j`` is configured horizon ``h`` and family
``j`` of the families every horizon shares (the steady state). Each message costs one pass over
its entries, through a cache of where each (horizon spelling, family) goes; at the tick's end one
``numpy.array`` per quantity gives every horizon's ``(symbols, families)`` grid. No per-message
or per-horizon Python containers outlive the message (each one alive at the tick's end is work
for the garbage collector).

A message this layout cannot take (a family the horizons do not have yet, a repeated model) is
left to the per-entry path (``Blender.parse_predictions``), which also reports its errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter

import numpy as np

from ridgeline_blender.ridge import BoolArray, FloatArray
from ridgeline_shared.messages import ModelPrediction

# Entries (horizon spelling, family) whose place is remembered; beyond, worked out each time.
MAX_CACHED = 4096
IGNORED = -1
_UNKNOWN = -2
# What the blend reads of an entry, in one call.
_FIELDS = attrgetter("horizon", "family", "warming_up", "zscore", "ic", "score", "confidence")


class EntryGrid:
    """One tick's rows; :meth:`clear` between ticks. Built for fixed horizons and (non-empty)
    families: a new family means a new grid."""

    __slots__ = (
        "_active",
        "_allowed",
        "_conf",
        "_horizon",
        "_ic",
        "_index",
        "_places",
        "_score",
        "_z",
        "families",
        "names",
    )

    def __init__(
        self,
        names: Sequence[str],
        families: tuple[str, ...],
        horizon_of: Callable[[str], str | None],
        allowed: frozenset[str],
    ) -> None:
        self.names, self.families = tuple(names), families
        self._horizon = horizon_of
        self._index = {
            (name, f): h * len(families) + j for h, name in enumerate(names) for j, f in enumerate(families)
        }
        # (horizon as spelled, family) -> column, or IGNORED (unknown horizon, family not allowed).
        self._places: dict[tuple[str, str], int] = {}
        self._allowed = allowed
        self.clear()

    def clear(self) -> None:
        self._active: list[bool] = []
        self._ic: list[float] = []
        self._score: list[float] = []
        self._z: list[float] = []
        self._conf: list[float] = []

    @property
    def width(self) -> int:
        return len(self.names) * len(self.families)

    def _place(self, horizon: str, family: str) -> int | None:
        name = self._horizon(horizon)
        if name is None or (self._allowed and family not in self._allowed):
            place = IGNORED
        else:
            found = self._index.get((name, family))
            if found is None:
                return None  # a family to discover: not a fixed fact, never cached
            place = found
        if len(self._places) < MAX_CACHED:
            self._places[(horizon, family)] = place
        return place

    def add(self, entries: Sequence[ModelPrediction]) -> tuple[int, int] | None:
        """Lay out one message's entries: (row, entries ignored), or None for the per-entry path."""
        width = self.width
        seen, active = [False] * width, [False] * width
        ic, score, z, conf = [0.0] * width, [0.0] * width, [0.0] * width, [0.0] * width
        places, ignored = self._places, 0
        for horizon, family, warming_up, zscore, ic_m, score_m, conf_m in map(_FIELDS, entries):
            place: int | None = places.get((horizon, family), _UNKNOWN)
            if place == _UNKNOWN:
                place = self._place(horizon, family)
            if place is None or (place >= 0 and seen[place]):
                return None
            if place < 0:
                ignored += 1
                continue
            seen[place] = True
            if not warming_up and zscore is not None:
                active[place] = True
                ic[place], score[place], z[place], conf[place] = ic_m, score_m, zscore, conf_m
        row = len(self._active) // width
        self._active += active
        self._ic += ic
        self._score += score
        self._z += z
        self._conf += conf
        return row, ignored

    def arrays(self, rows: Sequence[int]) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """active, ic, score, z, conf as ``(horizons, len(rows), families)`` arrays, in ``rows``'
        order (C-contiguous: each horizon's ``(symbols, families)`` slice is too)."""
        h, k = len(self.names), len(self.families)
        order = np.asarray(rows, dtype=np.intp)

        def grid(values: list[float] | list[bool], dtype: type) -> np.ndarray:
            a: np.ndarray = np.array(values, dtype=dtype).reshape(-1, h, k)[order]
            return np.ascontiguousarray(a.transpose(1, 0, 2))

        return (
            grid(self._active, bool),
            grid(self._ic, float),
            grid(self._score, float),
            grid(self._z, float),
            grid(self._conf, float),
        )
