"""Historical bar files: find them, tell symbol and interval, choose one file per symbol, and
merge them into one event-time-ordered source.

Names like ``ADABTC_5m.csv``, ``ETH_BTC-5m.feather`` or ``AAPL_1min.parquet`` give symbol and
interval (an ``_`` in a file-name symbol becomes ``/``: ``ETH_BTC`` is the pair ETH/BTC); otherwise
the symbol is the file's stem and the interval the most common spacing of its first rows. A file
with a symbol column may hold many symbols. When several files hold one symbol, the coarsest one
whose interval divides the running interval wins (fewest rows, the venue's own aggregation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ridgeline_ingest.interval import Interval
from ridgeline_ingest.rows import BadRow, RawRow
from ridgeline_ingest.sources.base import MergedSource, SymbolStream
from ridgeline_ingest.sources.csv_file import csv_header, csv_records
from ridgeline_ingest.sources.layouts import (
    Layout,
    RowSpec,
    TimeParser,
    infer_interval_minutes,
    parse_record,
    row_symbol,
    sample_times,
)
from ridgeline_ingest.sources.parquet_file import arrow_header, arrow_records

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".feather", ".arrow")
_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9][A-Za-z0-9._/-]*?)[_.-](?P<count>\d+)"
    r"(?P<unit>m|min|mins|minute|minutes|h|hr|hour|hours|d|day|daily)$",
    re.IGNORECASE,
)
_WORD = re.compile(r"^(?P<symbol>[A-Za-z0-9][A-Za-z0-9._/-]*?)[_.-](?P<word>daily|hourly)$", re.IGNORECASE)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}

Records = Callable[[Path], Iterator[tuple[int, list[Any]]]]


@dataclass(frozen=True, slots=True)
class FileOptions:
    naive_tz: tzinfo = UTC
    timestamp_is_close: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    symbol: str
    interval_minutes: int
    path: Path
    open_rows: Callable[[], Iterator[RawRow | BadRow]]
    total_rows: int | None


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Discovery:
    chosen: tuple[Candidate, ...]
    skipped: tuple[Skipped, ...] = field(default=())

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({c.symbol for c in self.chosen}))

    def source(self, label: str = "files") -> MergedSource:
        streams = [SymbolStream(c.symbol, c.open_rows(), c.total_rows) for c in self.chosen]
        return MergedSource(label, streams)


def is_bar_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIXES)


def list_files(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    files: list[Path] = []
    skipped: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if is_bar_file(p)))
        elif is_bar_file(path):
            files.append(path)
        else:
            skipped.append(Skipped(str(path), "not a bar file or directory"))
    return files, skipped


def split_name(path: Path) -> tuple[str, int | None]:
    stem = path.name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    match = _NAME.match(stem)
    if not match:
        word = _WORD.match(stem)
        if word:
            return word.group("symbol").replace("_", "/"), 1440 if word.group(
                "word"
            ).lower() == "daily" else 60
        return stem.replace("_", "/"), None
    unit = match.group("unit").lower()[0]
    return match.group("symbol").replace("_", "/"), int(match.group("count")) * _UNIT_MINUTES[unit]


def eligible(source_minutes: int, interval: Interval) -> bool:
    """Can bars of ``source_minutes`` be aggregated into the running interval?"""
    if interval.daily:
        return source_minutes == 1440 or 1440 % source_minutes == 0
    return interval.minutes % source_minutes == 0


def discover(
    paths: Sequence[Path],
    interval: Interval,
    symbols: Sequence[str] = (),
    options: FileOptions = FileOptions(),
) -> Discovery:
    files, skipped = list_files(paths)
    wanted = set(symbols)
    candidates: list[Candidate] = []
    for path in files:
        try:
            found = _candidates(path, options)
        except (OSError, ValueError) as exc:
            skipped.append(Skipped(str(path), str(exc)[:300]))
            continue
        for candidate, problem in found:
            if wanted and candidate.symbol not in wanted:
                continue
            if problem:
                skipped.append(Skipped(f"{path}[{candidate.symbol}]", problem))
            elif not eligible(candidate.interval_minutes, interval):
                skipped.append(
                    Skipped(
                        f"{path}[{candidate.symbol}]",
                        f"{candidate.interval_minutes}m bars do not aggregate into {interval.spec} bars",
                    )
                )
            else:
                candidates.append(candidate)
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        held = best.get(candidate.symbol)
        if held is None or candidate.interval_minutes > held.interval_minutes:
            if held is not None:
                skipped.append(Skipped(str(held.path), f"{candidate.path.name} is coarser for {held.symbol}"))
            best[candidate.symbol] = candidate
        else:
            skipped.append(Skipped(str(candidate.path), f"{held.path.name} is coarser for {held.symbol}"))
    chosen = tuple(best[s] for s in sorted(best))
    return Discovery(chosen, tuple(skipped))


def _reader(path: Path) -> tuple[list[str], Records]:
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return csv_header(path), csv_records
    return arrow_header(path), arrow_records


def _count_rows(path: Path) -> int | None:
    name = path.name.lower()
    if name.endswith(".csv"):
        with path.open("rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        return max(0, lines - 1)
    if name.endswith((".parquet", ".pq")):
        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


def _candidates(path: Path, options: FileOptions) -> list[tuple[Candidate, str]]:
    header, records = _reader(path)
    layout = Layout.detect(header)
    parser = TimeParser(options.naive_tz)
    name_symbol, name_minutes = split_name(path)
    if layout.symbol is None:
        minutes = name_minutes
        if minutes is None:
            probe = RowSpec(layout, parser, 0)
            rows = (parse_record(probe, cells, name_symbol, "") for _, cells in records(path))
            minutes = infer_interval_minutes(sample_times(rows))
        if minutes is None:
            return [(Candidate(name_symbol, 0, path, iter_empty, 0), "cannot tell the bar interval")]
        spec = RowSpec(layout, parser, minutes, options.timestamp_is_close)

        def open_rows() -> Iterator[RawRow | BadRow]:
            label = path.name
            for number, cells in records(path):
                yield parse_record(spec, cells, name_symbol, f"{label}:{number}")

        return [(Candidate(name_symbol, minutes, path, open_rows, _count_rows(path)), "")]
    # Many symbols in one file: read it once and split by symbol, keeping each one's order.
    grouped: dict[str, list[tuple[int, list[Any]]]] = {}
    for number, cells in records(path):
        grouped.setdefault(row_symbol(layout, cells, name_symbol), []).append((number, cells))
    out: list[tuple[Candidate, str]] = []
    for symbol in sorted(grouped):
        cells_list = grouped[symbol]
        minutes = name_minutes
        if minutes is None:
            probe = RowSpec(layout, parser, 0)
            times = sample_times(iter([parse_record(probe, c, symbol, "") for _, c in cells_list[:256]]))
            minutes = infer_interval_minutes(times)
        if minutes is None:
            out.append((Candidate(symbol, 0, path, iter_empty, 0), "cannot tell the bar interval"))
            continue
        parsed: list[RawRow | BadRow] = [
            parse_record(
                RowSpec(layout, parser, minutes, options.timestamp_is_close), c, symbol, f"{path.name}:{n}"
            )
            for n, c in cells_list
        ]
        out.append((Candidate(symbol, minutes, path, _replayable(parsed), len(parsed)), ""))
    return out


def _replayable(rows: list[RawRow | BadRow]) -> Callable[[], Iterator[RawRow | BadRow]]:
    return lambda: iter(rows)


def iter_empty() -> Iterator[RawRow | BadRow]:
    return iter(())
