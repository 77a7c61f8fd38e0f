"""Restart without a snapshot: the predictor refills its buffers from the retained bars stream,
up to what its consumer group has acknowledged (real Redis)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import redis

from ridgeline_predictor.config import PredictorConfig, PredictorSettings
from ridgeline_predictor.service import PredictorService, read_acknowledged_bars
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Bar
from tests.support.bars import publish_ticks, real_bars

pytestmark = pytest.mark.integration


def test_on_start_rebuilds_from_acknowledged_bars_only(redis_url: str, redis_client: redis.Redis) -> None:
    keys = Keys("ridgeline", 0)
    stream = keys.stream(Stream.BARS)
    bars = [*real_bars("ETHBTC", 200), *real_bars("LTCBTC", 200)]
    publish_ticks(redis_client, keys, bars)
    redis_client.xgroup_create(stream, "predictor", id="0")
    reply = cast(list[Any], redis_client.xreadgroup("predictor", "c1", {stream: ">"}, count=300))
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], reply[0][1])
    acked = entries[:250]
    redis_client.xack(stream, "predictor", *[entry_id for entry_id, _ in acked])
    expected = [m for _, f in acked if isinstance(m := codec.decode(Stream.BARS, f), Bar)]

    got = read_acknowledged_bars(redis_client, stream, "predictor", 10_000)
    assert [b.trace_id for b in got] == [b.trace_id for b in expected]
    assert read_acknowledged_bars(redis_client, stream, "predictor", 10)[-1] == expected[-1]

    svc = PredictorService(
        PredictorSettings(redis_url=redis_url, predictor=PredictorConfig(z_min_samples=20))
    )
    svc.restore(None)
    svc.on_start(redis_client)
    assert svc.rebuilt_bars == len(expected)
    counts = dict(zip(svc.core.buffer.symbols, svc.core.buffer.count.tolist(), strict=False))
    assert counts == {
        "ETHBTC": sum(b.symbol == "ETHBTC" for b in expected),
        "LTCBTC": sum(b.symbol == "LTCBTC" for b in expected),
    }
    # A restored snapshot wins: on_start leaves a non-empty state alone.
    before = svc.snapshot()
    svc.on_start(redis_client)
    assert svc.snapshot() == before


def test_no_group_or_stream_means_nothing_to_rebuild(redis_client: redis.Redis) -> None:
    stream = Keys("ridgeline", 0).stream(Stream.BARS)
    assert read_acknowledged_bars(redis_client, stream, "predictor", 100) == []
    publish_ticks(redis_client, Keys("ridgeline", 0), list(real_bars("ETHBTC", 5)))
    assert read_acknowledged_bars(redis_client, stream, "predictor", 100) == []
