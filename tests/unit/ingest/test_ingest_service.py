"""The service adapter without Redis: ticks and watermarks, end of data, restarts, control, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from ingest_helpers import DATA

from ridgeline_ingest.service import IngestService
from ridgeline_ingest.settings import IngestSettings
from ridgeline_shared.config import ConfigError, load_settings
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Watermark
from ridgeline_shared.runtime.service import CommandError, Outbox

pytestmark = pytest.mark.unit


def make(monotonic: Any = None, **ingest: Any) -> IngestService:
    settings = load_settings(IngestSettings, ingest=ingest)
    if monotonic is None:
        return IngestService(settings)
    return IngestService(settings, monotonic=monotonic)


def drain(service: IngestService, limit: int = 100_000) -> list[Outbox]:
    outs = []
    for _ in range(limit):
        out = Outbox()
        if not service.poll(out):
            break
        outs.append(out)
    return outs


def messages(outs: list[Outbox]) -> list[Any]:
    return [m for out in outs for s, m in out.messages if s is Stream.BARS]


def test_each_poll_is_one_tick_of_sorted_bars_then_its_watermark() -> None:
    service = make(symbols=["ADABTC", "ETHBTC", "TRXBTC"], max_bars=3000)
    outs = drain(service)
    for out in outs[:-1]:
        kinds = [type(m) for _, m in out.messages]
        assert kinds[-1] is Watermark
        assert all(k is Bar for k in kinds[:-1])
        bars = [m for _, m in out.messages[:-1]]
        watermark = out.messages[-1][1]
        assert [b.symbol for b in bars] == sorted(b.symbol for b in bars)
        assert {b.event_time for b in bars} == {watermark.event_time}
        assert watermark.producer == "ingest"
        assert not watermark.end_of_data
        assert all(b.received_at == b.event_time for b in bars)  # replay
        assert out.ops == []  # the state travels in the worker's snapshot, not a write of its own
    times = [out.messages[-1][1].event_time for out in outs[:-1]]
    assert times == sorted(set(times))
    assert service.poll(Outbox()) is False  # finished: nothing more, ever


def test_end_of_data_is_sent_once_with_the_run_statistics() -> None:
    service = make(symbols=["ADABTC", "TRXBTC"])
    outs = drain(service)
    last = outs[-1].messages
    assert len(last) == 1
    eod = last[0][1]
    assert isinstance(eod, Watermark)
    assert eod.end_of_data
    assert eod.event_time == datetime(2018, 1, 30, 4, 55, tzinfo=UTC)
    assert eod.stats["bars"] == eod.stats["bars_published"] == 5720 + 5754
    assert eod.stats["gaps"] == 11
    assert eod.stats["gap_bars"] == 46
    assert eod.stats["rejected"] == 0
    assert eod.stats["max_bars_reached"] == 0
    assert sum(isinstance(m, Watermark) and m.end_of_data for m in messages(outs)) == 1
    assert sum(isinstance(m, Bar) for m in messages(outs)) == 5720 + 5754
    assert service.status()["phase"] == "finished"


def test_restart_from_snapshot_resumes_without_republishing() -> None:
    straight = messages(drain(make(symbols=["ETHBTC", "XRPETH"], max_bars=1500)))
    first = make(symbols=["ETHBTC", "XRPETH"], max_bars=1500)
    before = messages(drain(first, limit=400))
    snapshot = first.snapshot()
    second = make(symbols=["ETHBTC", "XRPETH"], max_bars=1500)
    second.restore(snapshot)
    after = messages(drain(second))
    assert [m.model_dump_json() for m in before + after] == [m.model_dump_json() for m in straight]
    assert after[-1].stats == straight[-1].stats  # counters rebuilt exactly by the fast-forward


def test_restart_after_end_of_data_publishes_nothing() -> None:
    service = make(symbols=["ETHBTC"], max_bars=10)
    drain(service)
    again = make(symbols=["ETHBTC"], max_bars=10)
    again.restore(service.snapshot())
    assert drain(again) == []
    assert again.status()["phase"] == "finished"


def test_control_start_and_stop() -> None:
    service = make(autostart=False, symbols=["ETHBTC"])
    assert service.poll(Outbox()) is False  # waits for start
    assert service.status()["phase"] == "idle"
    with pytest.raises(CommandError, match="outside the configured data"):
        service.apply_command("start", {"paths": ["/etc/passwd"]}, Outbox())
    with pytest.raises(CommandError, match="bad start payload"):
        service.apply_command("start", {"files": ["x"]}, Outbox())
    out = Outbox()
    result = service.apply_command(
        "start", {"paths": [str(DATA / "LTCBTC_5m.csv")], "symbols": [], "max_bars": 50}, out
    )
    assert result["phase"] == "running"
    assert json.loads(service.snapshot())["plan"]["max_bars"] == 50  # the worker snapshots commands
    outs = drain(service, limit=10)
    assert {m.symbol for m in messages(outs) if isinstance(m, Bar)} == {"LTCBTC"}
    with pytest.raises(CommandError, match="under way"):
        service.apply_command("start", {"symbols": ["ETHBTC"]}, Outbox())
    assert service.apply_command("start", {"speed": 0}, Outbox())["phase"] == "running"
    stop = Outbox()
    assert service.apply_command("stop", {}, stop)["changed"] is True
    (eod,) = [m for _, m in stop.messages]
    assert isinstance(eod, Watermark)
    assert eod.end_of_data
    assert eod.stats["stopped"] == 1
    assert eod.stats["bars_published"] == 10
    assert service.apply_command("stop", {}, Outbox())["changed"] is False
    with pytest.raises(CommandError, match="has ended"):
        service.apply_command("start", {}, Outbox())
    assert service.poll(Outbox()) is False


def test_speed_paces_ticks_on_the_monotonic_clock() -> None:
    clock = [1000.0]
    service = make(monotonic=lambda: clock[0], symbols=["ETHBTC"], speed=60.0)
    assert service.poll(Outbox())  # first tick at once
    assert not service.poll(Outbox())  # 5 minutes of data = 5 s at 60x
    clock[0] += 4.9
    assert not service.poll(Outbox())
    clock[0] += 0.1
    assert service.poll(Outbox())
    service.apply_command("start", {"speed": 0}, Outbox())  # as fast as possible from now on
    assert service.poll(Outbox())
    assert service.poll(Outbox())


def test_a_paced_replay_says_when_its_next_tick_is_due() -> None:
    clock = [1000.0]
    service = make(monotonic=lambda: clock[0], symbols=["ETHBTC"], speed=60.0)
    assert service.poll(Outbox())
    assert service.poll_after() == pytest.approx(5.0)  # the worker sleeps this, not bus.block_ms
    clock[0] += 4.9
    assert service.poll_after() == pytest.approx(0.1)
    service.apply_command("start", {"speed": 0}, Outbox())
    assert service.poll_after() == 0.0
    service.apply_command("stop", {}, Outbox())
    assert service.poll_after() is None


def test_status_shows_per_symbol_last_bar_counts_gaps_and_lag() -> None:
    service = make(symbols=["ADABTC", "ETHBTC"])
    drain(service, limit=800)  # 800 ticks of 5m from 2018-01-10 05:00
    status = service.status()
    assert status["phase"] == "running"
    assert status["interval"] == "5m"
    assert status["calendar"] == "24/7"
    ada, eth = status["symbols"]["ADABTC"], status["symbols"]["ETHBTC"]
    assert eth["bars"] == 800
    assert eth["last_event_time"] == "2018-01-12T23:35:00+00:00"
    assert eth["last_close"] > 0
    assert eth["lag_s"] == 0.0
    assert ada["gaps"] == 0
    drain(service, limit=1000)  # past ADABTC's gaps of 2018-01-15
    status = service.status()
    ada = status["symbols"]["ADABTC"]
    assert ada["gaps"] == 5
    assert ada["gap_bars"] == 40
    assert status["progress"]["ticks"] == 1800
    assert 0 < status["progress"]["fraction"] < 1
    assert status["files"]["ADABTC"].endswith("ADABTC_5m.csv")
    assert status["totals"]["gap_bars"] == 40
    json.dumps(status)  # serialisable for GET /status


def test_synthetic_source_through_the_service() -> None:
    service = make(source="synthetic", synthetic={"symbols": ["A", "B", "C"], "bars": 200, "seed": 3})
    outs = drain(service)
    bars = [m for m in messages(outs) if isinstance(m, Bar)]
    assert len(bars) == 600
    assert {b.source for b in bars} == {"synthetic"}
    assert outs[-1].messages[-1][1].end_of_data


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ingest": {"calendar": "XNYS"}}, "session_minutes"),
        (
            {"ingest": {"calendar": "XNYS"}, "session_minutes": 390, "interval": "1h", "horizons": ["1h"]},
            "tile",
        ),
        ({"ingest": {"calendar": "XNYZ"}}, "unknown trading calendar"),
        ({"ingest": {"source": "alpaca", "symbols": ["SPY"]}}, "api_key"),
        ({"ingest": {"source": "alpaca"}}, "symbols"),
        ({"ingest": {"paths": ["/nonexistent/bars"]}}, "do not exist"),
        ({"ingest": {"naive_timezone": "Mars/Olympus"}}, "time zone"),
        ({"horizons": ["5m", "7m"]}, "7m"),
    ],
)
def test_bad_configuration_is_refused_at_start(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(IngestSettings, **overrides)


def test_equity_configuration_is_accepted() -> None:
    settings = load_settings(
        IngestSettings, session_minutes=390, ingest={"calendar": "XNYS", "symbols": ["ETHBTC"]}
    )
    assert settings.trading_calendar().regular_session_minutes == 390
