"""Historical bars from the bundled CSV files (``<SYMBOL>_<interval>.csv``, header
``ts,open,high,low,close,volume``, ``ts`` = bar open time in UTC)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ridgeline_shared.intervals import parse_minutes

HEADER = ["ts", "open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class History:
    """One symbol's bars, oldest first. ``event_s`` = bar close in epoch seconds."""

    symbol: str
    interval: str
    event_s: NDArray[np.int64]
    bars: NDArray[np.float64]  # (T, 5): open, high, low, close, volume

    def __len__(self) -> int:
        return int(self.event_s.shape[0])


def _epoch_seconds(text: str) -> int:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def load_csv(path: Path, symbol: str, interval: str) -> History:
    step = parse_minutes(interval) * 60
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header != HEADER:
            raise ValueError(f"{path}: header {header} is not {HEADER}")
        rows = list(reader)
    event_s = np.array([_epoch_seconds(r[0]) + step for r in rows], dtype=np.int64)
    bars = np.array([[float(x) for x in r[1:6]] for r in rows], dtype=np.float64)
    if event_s.size and np.any(np.diff(event_s) <= 0):
        raise ValueError(f"{path}: timestamps are not strictly increasing")
    return History(symbol, interval, event_s, bars.reshape(-1, 5))


def load_dir(
    data_dir: Path, interval: str, symbols: tuple[str, ...] = (), min_rows: int = 0
) -> tuple[list[History], list[str]]:
    """Every ``*_<interval>.csv`` (or only ``symbols``), sorted by symbol; also the skip notes."""
    suffix = f"_{interval}.csv"
    found = sorted(p for p in data_dir.glob(f"*{suffix}") if p.is_file())
    histories: list[History] = []
    notes: list[str] = []
    for path in found:
        symbol = path.name[: -len(suffix)]
        if symbols and symbol not in symbols:
            continue
        history = load_csv(path, symbol, interval)
        if len(history) < min_rows:
            notes.append(f"skipped {symbol}: {len(history)} rows < min_rows {min_rows}")
            continue
        histories.append(history)
    missing = sorted(set(symbols) - {h.symbol for h in histories})
    if missing:
        raise FileNotFoundError(f"no usable {suffix} file for {', '.join(missing)} in {data_dir}")
    if not histories:
        raise FileNotFoundError(f"no *{suffix} files with >= {min_rows} rows in {data_dir}")
    return histories, notes
