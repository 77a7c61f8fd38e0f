"""The report read back from real Redis streams equals the one built from the same messages."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import redis

from ridgeline.report import RunData, build_report, compute_metrics, load_run
from ridgeline.report.__main__ import main
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Message, Watermark
from tests.unit.report.report_helpers import hand_run

pytestmark = pytest.mark.integration

PREFIX = "rpt"


def _publish(client: redis.Redis, keys: Keys, stream: Stream, messages: list[Message], producer: str) -> None:
    """Messages grouped by tick, each tick closed by a watermark, as the worker writes them."""
    ticks: dict[datetime, list[Message]] = {}
    for message in messages:
        ticks.setdefault(message.event_time, []).append(message)
    for tick in sorted(ticks):
        for message in ticks[tick]:
            client.xadd(keys.stream(stream), codec.encode(message))  # type: ignore[arg-type]
        mark = Watermark(event_time=tick, trace_id=f"{producer}@{tick}", producer=producer)
        client.xadd(keys.stream(stream), codec.encode(mark))  # type: ignore[arg-type]


def _write_run(client: redis.Redis, run: RunData, *, end: bool) -> Keys:
    keys = Keys(PREFIX, 0)
    _publish(client, keys, Stream.BARS, list(run.bars), "ingest")
    _publish(client, keys, Stream.SIGNALS, list(run.signals), "blender")
    _publish(client, keys, Stream.ORDERS, list(run.orders), "risk")
    _publish(client, keys, Stream.RISK_EVENTS, list(run.risk_events), "risk")
    _publish(client, keys, Stream.EXECUTIONS, list(run.executions), "executor")
    if end:
        last = run.bars[-1].event_time
        eod = Watermark(event_time=last, trace_id="eod", producer="executor", end_of_data=True)
        client.xadd(keys.stream(Stream.EXECUTIONS), codec.encode(eod))  # type: ignore[arg-type]
    return keys


def test_load_run_reads_every_stream(redis_client: redis.Redis) -> None:
    expected = hand_run()
    keys = _write_run(redis_client, expected, end=False)
    redis_client.xadd(keys.stream(Stream.EXECUTIONS), {b"m": b"{not json"})
    run = load_run(redis_client, PREFIX, 0)
    assert run.bars == expected.bars
    assert run.signals == expected.signals
    assert run.orders == expected.orders
    assert run.executions == expected.executions
    assert run.risk_events == expected.risk_events
    assert run.undecodable == 1
    assert not run.finished
    assert load_run(redis_client, "other-prefix").bars == ()


def test_build_report_from_redis(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    expected = compute_metrics(hand_run())
    _write_run(redis_client, hand_run(), end=True)
    paths = build_report(redis_url, PREFIX, tmp_path / "report")
    assert paths.metrics == expected
    doc = json.loads(paths.json.read_text())
    assert (doc["final_equity"], doc["fills"], doc["finished"]) == ("100.118", 4, True)
    assert doc["per_horizon"]["15m"]["total"] == "-0.051"
    assert "Ridgeline backtest (rpt)" in paths.html.read_text()


def test_command_line(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_run(redis_client, hand_run(), end=True)
    assert (
        main(["--redis-url", redis_url, "--prefix", PREFIX, "--out", str(tmp_path), "--initial-cash", "1000"])
        == 0
    )
    out = capsys.readouterr().out
    assert "Equity 1000 -> 1000.118" in out
    assert f"Report: {tmp_path / 'report.html'}" in out
    assert json.loads((tmp_path / "metrics.json").read_text())["initial_cash"] == "1000"
