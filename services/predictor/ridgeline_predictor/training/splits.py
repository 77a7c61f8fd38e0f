"""Purged walk-forward splits over pooled rows ordered by event time.

Fold i tests on the i-th of ``folds`` equal time blocks after an initial training span, and
trains on every row whose label window ends before the test block starts: a row at time t with a
label over the next h minutes is kept only if ``t + purge < test_start`` with purge = the horizon's
length. Training never sees a return that overlaps the test period (no look-ahead).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Index = NDArray[np.int64]


@dataclass(frozen=True)
class Fold:
    train: Index
    test: Index
    test_start: int
    test_end: int


def walk_forward(event_s: NDArray[np.int64], folds: int, initial_fraction: float, purge_s: int) -> list[Fold]:
    if folds < 1 or not 0.0 < initial_fraction < 1.0:
        raise ValueError("need folds >= 1 and 0 < initial_fraction < 1")
    t0, t1 = int(event_s.min()), int(event_s.max()) + 1
    first = t0 + int((t1 - t0) * initial_fraction)
    edges = [first + (t1 - first) * i // folds for i in range(folds + 1)]
    out = []
    for start, end in itertools.pairwise(edges):
        train = np.nonzero(event_s + purge_s < start)[0]
        test = np.nonzero((event_s >= start) & (event_s < end))[0]
        if train.size and test.size:
            out.append(Fold(train, test, start, end))
    if not out:
        raise ValueError("walk-forward produced no fold with both training and test rows")
    return out
