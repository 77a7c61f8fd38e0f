"""The operator CLI's arguments, service addresses and control-plane error handling (no network:
answers come from an in-memory httpx transport)."""

from __future__ import annotations

import argparse
import json

import httpx
import pytest

from ridgeline.ops import cli
from ridgeline.ops.http import ControlPlane, ControlRefusedError, OpsError, ServiceUnreachableError
from ridgeline.ops.targets import TargetError, parse_override, resolve
from ridgeline_shared.keys import Keys

pytestmark = pytest.mark.unit


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(argv)


def test_default_urls_are_the_launcher_ports() -> None:
    assert resolve() == {
        "ingest": "http://127.0.0.1:8101",
        "predictor": "http://127.0.0.1:8102",
        "blender": "http://127.0.0.1:8103",
        "risk": "http://127.0.0.1:8104",
        "executor": "http://127.0.0.1:8105",
    }


def test_url_flag_beats_environment_beats_default() -> None:
    env = {"RIDGELINE_RISK_URL": "http://risk.env:9000/", "RIDGELINE_EXECUTOR_URL": "http://exec.env:9001"}
    urls = resolve(["risk=http://risk.flag:7000", "blender=https://b:1/"], env)
    assert urls["risk"] == "http://risk.flag:7000"
    assert urls["executor"] == "http://exec.env:9001"
    assert urls["blender"] == "https://b:1"
    assert urls["ingest"] == "http://127.0.0.1:8101"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("risk", "SERVICE=URL"),
        ("risk=", "SERVICE=URL"),
        ("riks=http://x", "unknown service 'riks'"),
        ("risk=localhost:8104", r"not an http\(s\) URL"),
    ],
)
def test_bad_url_overrides_are_named(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_override(text)


def test_kill_flatten_is_three_valued() -> None:
    assert parse("kill").flatten is None
    assert parse("kill", "--flatten").flatten is True
    assert parse("kill", "--no-flatten", "--reason", "fat finger").flatten is False
    assert parse("kill", "--reason", "fat finger").reason == "fat finger"


def test_pause_needs_a_known_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse("pause", "predictor", "--token", "t").service == "predictor"
    with pytest.raises(SystemExit) as exit_info:
        parse("pause", "predicter")
    assert exit_info.value.code == 2
    assert "invalid choice: 'predicter'" in capsys.readouterr().err


def test_every_subcommand_has_a_handler() -> None:
    for argv in (
        ["status"],
        ["state"],
        ["kill"],
        ["reset"],
        ["pause", "risk"],
        ["resume", "risk"],
        ["positions"],
        ["orders"],
        ["deadletters"],
    ):
        args = parse(*argv)
        assert callable(args.func), argv
        assert args.command == argv[0]


def test_orders_and_deadletters_options() -> None:
    orders = parse("orders", "--status", "filled", "-n", "3", "--json", "--url", "executor=http://e:1")
    assert (orders.status, orders.last, orders.json, orders.url) == (
        "filled",
        3,
        True,
        ["executor=http://e:1"],
    )
    dead = parse("deadletters", "-n", "5", "--prefix", "paper", "--shard", "2", "--full")
    assert (dead.n, dead.prefix, dead.shard, dead.full) == (5, "paper", 2, True)


def test_dead_letter_source_from_flags_or_environment() -> None:
    env = {"RIDGELINE_REDIS_URL": "redis://env:6379/1", "RIDGELINE_PREFIX": "live", "RIDGELINE_SHARD": "3"}
    assert cli.dead_letter_source(parse("deadletters"), env) == ("redis://env:6379/1", Keys("live", 3))
    flags = parse("deadletters", "--redis-url", "redis://flag/0", "--prefix", "p", "--shard", "0")
    assert cli.dead_letter_source(flags, env) == ("redis://flag/0", Keys("p", 0))
    assert cli.dead_letter_source(parse("deadletters"), {}) == (
        "redis://127.0.0.1:6379/0",
        Keys("ridgeline", 0),
    )


def test_token_comes_from_the_flag_or_the_environment() -> None:
    env = {"RIDGELINE_HTTP__CONTROL_TOKEN": "from-env"}
    assert cli.control_plane(parse("reset", "--token", "from-flag"), env).token == "from-flag"
    assert cli.control_plane(parse("reset"), env).token == "from-env"
    assert cli.control_plane(parse("reset"), {}).token is None


class Recorder:
    """An in-memory control plane: answers each request with ``reply`` and keeps the requests."""

    def __init__(self, reply: httpx.Response | Exception) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply

    def plane(self, token: str | None = "s3cret") -> ControlPlane:
        return ControlPlane({"risk": "http://risk:8000"}, token=token, transport=httpx.MockTransport(self))


def test_control_sends_the_bearer_token_and_payload() -> None:
    recorder = Recorder(httpx.Response(200, json={"command": "reset", "result": {"trading_state": "ACTIVE"}}))
    body = recorder.plane().control("risk", "reset", {"confirm": True})
    (request,) = recorder.requests
    assert request.method == "POST" and request.url == "http://risk:8000/control/reset"
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert json.loads(request.content) == {"confirm": True}
    assert body["result"] == {"trading_state": "ACTIVE"}


@pytest.mark.parametrize(
    ("status", "detail", "message"),
    [
        (401, "missing or wrong bearer token", "risk refused kill: HTTP 401 missing or wrong bearer token"),
        (403, "control is disabled: no control token configured", "HTTP 403 control is disabled"),
        (
            400,
            "trading is HALTED: only a reset lifts it",
            "HTTP 400 trading is HALTED: only a reset lifts it",
        ),
    ],
)
def test_refused_control_names_the_reason(status: int, detail: str, message: str) -> None:
    recorder = Recorder(httpx.Response(status, json={"detail": detail}))
    with pytest.raises(ControlRefusedError, match=message):
        recorder.plane().control("risk", "kill", {})


def test_server_errors_are_not_refusals() -> None:
    recorder = Recorder(httpx.Response(504, json={"detail": "worker did not apply the command in time"}))
    with pytest.raises(OpsError, match="HTTP 504 worker did not apply") as info:
        recorder.plane().control("risk", "kill", {})
    assert not isinstance(info.value, ControlRefusedError)


def test_control_without_a_token_sends_nothing() -> None:
    recorder = Recorder(httpx.Response(200, json={}))
    with pytest.raises(OpsError, match="--token or set RIDGELINE_HTTP__CONTROL_TOKEN"):
        recorder.plane(token=None).control("risk", "kill", {})
    assert recorder.requests == []


def test_unreachable_and_silent_services_are_one_line_errors() -> None:
    refused = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(
        ServiceUnreachableError, match=r"^risk: unreachable at http://risk:8000/status \(\[Errno 111\]"
    ):
        refused.plane().get("risk", "/status")
    silent = Recorder(httpx.ReadTimeout("timed out"))
    with pytest.raises(ServiceUnreachableError, match="no answer from http://risk:8000/status in time"):
        silent.plane().get("risk", "/status")


def test_get_accepts_listed_error_statuses_only() -> None:
    not_ready = Recorder(httpx.Response(503, json={"ready": False, "reasons": ["restoring state"]}))
    assert not_ready.plane().get("risk", "/ready", allow=(503,)) == {
        "ready": False,
        "reasons": ["restoring state"],
    }
    with pytest.raises(OpsError, match="GET /ready failed: HTTP 503"):
        not_ready.plane().get("risk", "/ready")
    garbage = Recorder(httpx.Response(200, text="<html>"))
    with pytest.raises(OpsError, match="not JSON"):
        garbage.plane().get("risk", "/status")


def test_a_failing_command_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on port 1: the real client fails to connect.
    code = cli.main(["state", "--url", "risk=http://127.0.0.1:1", "--timeout", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("ridgeline state: risk: unreachable at http://127.0.0.1:1/status")
    assert err.count("\n") == 1
