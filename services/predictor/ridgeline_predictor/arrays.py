"""Small helpers for per-symbol state kept as rows of numpy arrays (one row per symbol slot), so
a tick's update is one vectorised operation over every symbol that has a bar."""

from __future__ import annotations

from typing import Any

import numpy as np


def grow_rows(arr: np.ndarray[Any, Any], rows: int, fill: float | int) -> np.ndarray[Any, Any]:
    """``arr`` with at least ``rows`` rows (capacity doubles), new rows set to ``fill``."""
    if arr.shape[0] >= rows:
        return arr
    new_rows = max(rows, 2 * arr.shape[0], 8)
    out = np.full((new_rows, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


def grow_cols(arr: np.ndarray[Any, Any], cols: int, fill: float | int) -> np.ndarray[Any, Any]:
    if arr.shape[1] >= cols:
        return arr
    out = np.full((arr.shape[0], cols, *arr.shape[2:]), fill, dtype=arr.dtype)
    out[:, : arr.shape[1]] = arr
    return out
