"""CSV bar files (plain or ``.gz``), read lazily row by row."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def csv_header(path: Path) -> list[str]:
    with _open(path) as handle:
        for row in csv.reader(handle):
            if row and any(cell.strip() for cell in row):
                return row
    raise ValueError(f"{path.name}: empty file")


def csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every data row after the header; blank lines are skipped."""
    with _open(path) as handle:
        reader = csv.reader(handle)
        header_seen = False
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if not header_seen:
                header_seen = True
                continue
            yield reader.line_num, row
