"""Seeded synthetic bars for load tests: geometric Brownian motion per symbol.

Each symbol's generator is seeded with (seed, crc32(symbol)), so its bars do not depend on which
other symbols are generated, and a run is reproducible bit for bit.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from ridgeline_ingest.rows import BadRow, RawRow
from ridgeline_ingest.sources.base import MergedSource, SymbolStream

_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    symbols: Sequence[str]
    bars: int
    interval_minutes: int
    seed: int = 7
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    sigma_bps: float = 20.0  # per-bar volatility of log returns
    drift_bps: float = 0.0  # per-bar drift
    start_price: float = 100.0
    steps: int = 4  # points of the intra-bar path that make high and low


def synthetic_rows(symbol: str, spec: SyntheticSpec) -> Iterator[RawRow | BadRow]:
    rng = np.random.default_rng([spec.seed, zlib.crc32(symbol.encode())])
    sigma = spec.sigma_bps / 1e4
    step_sigma = sigma / math.sqrt(spec.steps)
    step_mu = (spec.drift_bps / 1e4 - 0.5 * sigma * sigma) / spec.steps
    log_price = math.log(spec.start_price)
    open_time = spec.start
    step = timedelta(minutes=spec.interval_minutes)
    produced = 0
    while produced < spec.bars:
        n = min(_CHUNK, spec.bars - produced)
        increments = rng.normal(step_mu, step_sigma, size=(n, spec.steps))
        volumes = rng.lognormal(math.log(1000.0), 0.5, size=n)
        paths = log_price + np.cumsum(increments.reshape(-1)).reshape(n, spec.steps)
        opens = np.concatenate(([log_price], paths[:-1, -1]))
        highs = np.maximum(paths.max(axis=1), opens)
        lows = np.minimum(paths.min(axis=1), opens)
        for i in range(n):
            yield RawRow(
                symbol,
                open_time,
                math.exp(opens[i]),
                math.exp(highs[i]),
                math.exp(lows[i]),
                math.exp(paths[i, -1]),
                float(volumes[i]),
                spec.interval_minutes,
                None,
                "synthetic",
            )
            open_time += step
        log_price = float(paths[-1, -1])
        produced += n


def synthetic_source(spec: SyntheticSpec) -> MergedSource:
    streams = [SymbolStream(s, synthetic_rows(s, spec), spec.bars) for s in sorted(set(spec.symbols))]
    return MergedSource("synthetic", streams)
