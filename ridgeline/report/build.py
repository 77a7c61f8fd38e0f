"""Report of a run held in Redis: what the launcher calls once the pipeline reached end of data."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from ridgeline.report.collect import load_run
from ridgeline.report.config import ReportConfig
from ridgeline.report.render import ReportPaths, write_report


def build_report(
    redis_url: str,
    prefix: str,
    out_dir: Path,
    *,
    shard: int = 0,
    title: str | None = None,
    config: ReportConfig | None = None,
) -> ReportPaths:
    client = Redis.from_url(redis_url)
    try:
        run = load_run(client, prefix, shard)
    finally:
        client.close()
    return write_report(run, out_dir, title or f"Ridgeline backtest ({prefix})", config)
