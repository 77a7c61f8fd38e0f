"""Helpers that publish real bars (from the bundled data) with watermarks, as ingest does."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from redis import Redis

from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Bar, Message, Watermark

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "market"


def real_bars(symbol: str = "ETHBTC", limit: int = 100, interval: str = "5m") -> Iterator[Bar]:
    path = DATA / f"{symbol}_{interval}.csv"
    if not path.exists():
        path = SHARED_DATA / f"{symbol}_{interval}.csv"
    step = timedelta(minutes=int(interval[:-1]))
    with path.open() as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i >= limit:
                return
            opened = datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))
            close = opened + step
            yield Bar(
                event_time=close, trace_id=f"{symbol}@{close.isoformat()}", symbol=symbol, interval=interval,
                open_time=opened, open=float(row["open"]), high=float(row["high"]), low=float(row["low"]),
                close=float(row["close"]), volume=float(row["volume"]), received_at=close, source="test",
            )  # fmt: skip


def publish_ticks(
    client: Redis, keys: Keys, bars: list[Bar], end_of_data: bool = True, frames: bool = False
) -> int:
    """Publish bars grouped by close time, each tick closed by a watermark: one entry per
    message, or (``frames``) one frame per tick as the worker publishes."""
    stream = keys.stream(Stream.BARS)
    by_time: dict[datetime, list[Bar]] = {}
    for bar in bars:
        by_time.setdefault(bar.event_time, []).append(bar)
    pipe = client.pipeline(transaction=False)
    for t in sorted(by_time):
        tick: list[Message] = sorted(by_time[t], key=lambda b: b.symbol)
        tick.append(Watermark(event_time=t, trace_id=f"wm@{t}", producer="test"))
        if frames:
            pipe.xadd(stream, codec.encode_frame(tick))  # type: ignore[arg-type]
            continue
        for message in tick:
            pipe.xadd(stream, codec.encode(message))  # type: ignore[arg-type]
    if end_of_data and by_time:
        last = max(by_time)
        pipe.xadd(
            stream,
            codec.encode(Watermark(event_time=last, trace_id="eod", producer="test", end_of_data=True)),  # type: ignore[arg-type]
        )
    pipe.execute()
    return len(by_time)
