"""The predictor under the real worker and Redis: its predictions stream equals the pure core's
output for the same bars, also across a restart in the middle of the stream."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from ridgeline.replay import end_of_data
from ridgeline_predictor.config import PredictorConfig, PredictorSettings, bundled_models_dir
from ridgeline_predictor.core import PredictorCore
from ridgeline_predictor.registry import SessionSettings, load_registry
from ridgeline_predictor.service import PredictorService
from ridgeline_shared import codec
from ridgeline_shared.config import DEFAULT_HORIZONS
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Bar, Predictions
from ridgeline_shared.runtime.worker import Worker
from tests.support.bars import publish_ticks, real_bars
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEYS = Keys()
CONFIG = PredictorConfig(z_min_samples=20, z_window_sessions=0.5, ic_window=50, ic_min_samples=10)


def predictions(client: redis.Redis) -> list[Predictions]:
    decoded = [
        m
        for _, f in client.xrange(KEYS.stream(Stream.PREDICTIONS))
        for m in codec.messages_of(Stream.PREDICTIONS, f)
    ]
    return [m for m in decoded if isinstance(m, Predictions)]


def expected(bars: list[Bar]) -> list[dict[str, Any]]:
    registry = load_registry(bundled_models_dir(), "5m", 1440, DEFAULT_HORIZONS, SessionSettings())
    core = PredictorCore(CONFIG, "5m", 1440, registry)
    out: list[Predictions] = []
    by_time: dict[object, list[Bar]] = {}
    for bar in bars:
        by_time.setdefault(bar.event_time, []).append(bar)
    for t in sorted(by_time):  # type: ignore[type-var]
        for bar in by_time[t]:
            core.add(bar)
        out.extend(core.tick())
    return [m.model_dump(exclude={"trace"}) for m in out]


def start(redis_url: str) -> Worker:
    settings = PredictorSettings(redis_url=redis_url, predictor=CONFIG, bus={"snapshot_every_ticks": 37})
    worker = Worker(PredictorService(settings))
    worker.start()
    return worker


def test_worker_output_equals_core_output_across_a_restart(redis_url: str, redis_client: redis.Redis) -> None:
    bars = [*real_bars("ETHBTC", 260), *real_bars("LTCBTC", 260)]
    first = [b for b in bars if b.event_time < bars[200].event_time]
    rest = [b for b in bars if b.event_time >= bars[200].event_time]
    publish_ticks(redis_client, KEYS, first, end_of_data=False)
    worker = start(redis_url)
    try:
        wait_for(lambda: len(predictions(redis_client)) >= len(first) - 2, "the first half")
    finally:
        worker.stop()
    worker = start(redis_url)  # restores the snapshot and replays what was committed after it
    try:
        publish_ticks(redis_client, KEYS, rest, end_of_data=True)
        wait_for(lambda: end_of_data(redis_client, KEYS, Stream.PREDICTIONS), "end of data")
    finally:
        worker.stop()
    got = [m.model_dump(exclude={"trace"}) for m in predictions(redis_client)]
    assert len(got) == len(bars)
    assert got == expected(bars)
    assert all(not e.warming_up for e in predictions(redis_client)[-1].entries)
