"""The operator CLI against the real thing: a served control plane (create_app around a running
Worker, uvicorn on a free port) and the dead-letter stream of a real Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis as redis_lib
import uvicorn

from ridgeline.ops.cli import main
from ridgeline_shared import codec
from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import DeadLetter
from ridgeline_shared.runtime.app import create_app
from ridgeline_shared.runtime.worker import Worker
from tests.support.bars import publish_ticks, real_bars
from tests.support.counting_service import CountingService
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEYS = Keys()
TOKEN = "s3cret"


@dataclass
class Served:
    worker: Worker
    url: str


@pytest.fixture
def served(redis_url: str) -> Iterator[Served]:
    """The counting service's worker behind its real control plane, on 127.0.0.1:<free port>."""
    settings = ServiceSettings(redis_url=redis_url, http={"control_token": TOKEN})
    worker = Worker(CountingService(settings))
    worker.start()
    server = uvicorn.Server(uvicorn.Config(create_app(worker), host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, name="ops-test-uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "uvicorn to listen")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Served(worker, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        worker.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table(out: str) -> dict[str, list[str]]:
    """Status rows by service name (the two-word LAST TICK cell is split in two)."""
    rows = {}
    for line in out.splitlines()[1:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_status_reports_a_running_service_and_names_an_unreachable_one(
    served: Served, redis_client: redis_lib.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = list(real_bars("ETHBTC", 12))
    bars[4] = bars[4].model_copy(update={"volume": 13.0})  # the counting service's poison value
    publish_ticks(redis_client, KEYS, bars)
    wait_for(lambda: served.worker.end_of_data, "the worker to reach end of data")
    wait_for(lambda: served.worker.ready()[0], "the worker to be ready")

    code, out, _ = run(capsys, "status", "ingest", "--url", f"ingest={served.url}")
    assert code == 0
    runtime = served.worker.status()
    row = table(out)["ingest"]
    last = bars[-1].event_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert row == ["yes", str(runtime["ticks"]), *last.split(), "-", "1", "no"]
    assert runtime["ticks"] >= len(bars)  # every bar's tick was counted (plus end of data)
    assert "ingest: reached end of data" in out

    # A second service nobody serves: its row says so, the error names it, and the exit is 1.
    code, out, _ = run(
        capsys, "status", "ingest", "predictor", "--url", f"ingest={served.url}",
        "--url", "predictor=http://127.0.0.1:1", "--timeout", "2",
    )  # fmt: skip
    assert code == 1
    rows = table(out)
    assert rows["ingest"][0] == "yes"
    assert rows["predictor"] == ["unreachable", "-", "-", "-", "-", "-"]
    assert "predictor: unreachable at http://127.0.0.1:1/status" in out


def test_pause_and_resume_through_the_control_plane(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", f"blender={served.url}"]
    code, _, err = run(capsys, "pause", "blender", *url, "--token", "wrong")
    assert code == 1
    assert err.strip() == "ridgeline pause: blender refused pause: HTTP 401 missing or wrong bearer token"
    assert served.worker.paused is False

    code, out, _ = run(capsys, "pause", "blender", *url, "--token", TOKEN)
    assert (code, out.strip()) == (0, "blender: paused")
    assert served.worker.paused is True
    code, out, _ = run(capsys, "status", "blender", *url)
    assert table(out)["blender"][-1] == "yes"

    code, out, _ = run(capsys, "resume", "blender", *url, "--token", TOKEN)
    assert (code, out.strip()) == (0, "blender: running")
    assert served.worker.paused is False


def test_risk_commands_report_the_service_refusal(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    # The counting service has no kill command: the control plane refuses with 404 and says why.
    code, _, err = run(capsys, "kill", "--url", f"risk={served.url}", "--token", TOKEN)
    assert code == 1
    assert err.startswith("ridgeline kill: risk refused kill: HTTP 404 unknown command 'kill'")


def letter(entry_id: str, error: str, stream: Stream = Stream.SIGNALS) -> DeadLetter:
    return DeadLetter(
        event_time=datetime(2024, 3, 5, 14, 5, tzinfo=UTC),
        trace_id=f"dead@{entry_id}",
        stream=KEYS.stream(stream),
        entry_id=entry_id,
        group="risk",
        consumer="risk-0",
        attempts=3,
        error=error,
        fields={"m": "{}"},
    )


def test_deadletters_tails_the_stream_oldest_first(
    redis_url: str, redis_client: redis_lib.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    key = KEYS.stream(Stream.DEAD_LETTERS)
    for i in range(30):
        redis_client.xadd(key, codec.encode(letter(f"1700000000000-{i}", f"handler: failure {i}")))  # type: ignore[arg-type]
    garbage: Any = redis_client.xadd(key, {b"x": b"not a dead letter"})
    garbage_id = garbage.decode()
    other = Keys("paper", 0).stream(Stream.DEAD_LETTERS)
    redis_client.xadd(other, codec.encode(letter("1-0", "in another deployment")))  # type: ignore[arg-type]

    code, out, _ = run(capsys, "deadletters", "--redis-url", redis_url, "-n", "4")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["TIME", "(UTC)", "SERVICE", "SOURCE"]
    assert [line.split()[4] for line in lines[1:4]] == [f"1700000000000-{i}" for i in (27, 28, 29)]
    assert lines[1].split()[2:4] == ["risk", "signals"]
    assert lines[3].endswith("handler: failure 29")
    assert f"<unreadable dead letter {garbage_id}: entry has no 'm' field" in lines[4]

    code, out, _ = run(capsys, "deadletters", "--redis-url", redis_url, "--prefix", "paper")
    assert code == 0
    assert "in another deployment" in out and "failure" not in out


def test_deadletters_written_by_a_real_worker(
    served: Served, redis_url: str, redis_client: redis_lib.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = list(real_bars("LTCBTC", 5))
    bars[2] = bars[2].model_copy(update={"volume": 13.0})
    publish_ticks(redis_client, KEYS, bars)
    wait_for(lambda: served.worker.end_of_data, "end of data")
    entries: Any = redis_client.xrange(KEYS.stream(Stream.BARS))
    poisoned = [eid.decode() for eid, fields in entries if b'"volume":13.0' in fields[b"m"]]
    code, out, _ = run(capsys, "deadletters", "--redis-url", redis_url, "--full")
    assert code == 0
    (row,) = out.splitlines()[1:]
    cells = row.split()
    assert cells[2:6] == ["counter", "bars", poisoned[0], "3"]
    assert row.endswith("handler: ValueError('poison bar (volume 13)')")


def test_deadletters_on_an_unreachable_redis_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "deadletters", "--redis-url", "redis://127.0.0.1:1/0")
    assert code == 1 and out == ""
    assert err.startswith("ridgeline deadletters: redis: cannot read dead letters at redis://127.0.0.1:1/0")
    assert err.count("\n") == 1
