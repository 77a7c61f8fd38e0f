"""Parquet (and Feather/Arrow IPC) bar files, read in record batches so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyarrow import feather

BATCH_ROWS = 65_536


def _is_feather(path: Path) -> bool:
    return path.suffix.lower() in {".feather", ".arrow", ".ipc"}


def arrow_header(path: Path) -> list[str]:
    if _is_feather(path):
        return list(feather.read_table(path, memory_map=True).schema.names)
    return list(pq.ParquetFile(path).schema_arrow.names)


def arrow_records(path: Path) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cells) with native Python values (datetime, float, int, str)."""
    if _is_feather(path):
        batches = iter(feather.read_table(path, memory_map=True).to_batches(max_chunksize=BATCH_ROWS))
    else:
        batches = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
    number = 0
    for batch in batches:
        columns = [column.to_pylist() for column in batch.columns]
        for cells in zip(*columns, strict=True):
            number += 1
            yield number, list(cells)
