"""Real rows from the bundled data set, for the ingest tests."""

from __future__ import annotations

import csv
import dataclasses
from datetime import datetime
from pathlib import Path

from ridgeline_ingest.rows import RawRow

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "data" / "market"


def real_rows(name: str, count: int | None = None, start: int = 0) -> list[RawRow]:
    """Rows ``start .. start+count`` of ``data/market/<name>.csv`` (e.g. ``ADABTC_5m``)."""
    symbol, spec = name.split("_")
    minutes = int(spec.rstrip("m"))
    out = []
    with (DATA / f"{name}.csv").open() as handle:
        for i, rec in enumerate(csv.DictReader(handle)):
            if i < start:
                continue
            if count is not None and len(out) >= count:
                break
            out.append(
                RawRow(
                    symbol,
                    datetime.fromisoformat(rec["ts"]),
                    float(rec["open"]),
                    float(rec["high"]),
                    float(rec["low"]),
                    float(rec["close"]),
                    float(rec["volume"]),
                    minutes,
                    None,
                    f"{name}.csv:{i + 2}",
                )
            )
    return out


def csv_lines(name: str, count: int, start: int = 0) -> list[str]:
    """Header plus raw data lines of a bundled file, to build vendor-layout files from."""
    lines = (DATA / f"{name}.csv").read_text().splitlines()
    return [lines[0], *lines[1 + start : 1 + start + count]]


def with_(row: RawRow, **changes: object) -> RawRow:
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]
