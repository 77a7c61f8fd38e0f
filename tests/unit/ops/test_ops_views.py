"""The operator CLI's text: tables, status, risk state, control answers, executor records, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ridgeline.ops import views
from ridgeline.ops.tables import clip, render
from ridgeline_shared.messages import DeadLetter

pytestmark = pytest.mark.unit


def runtime_status(**changes: object) -> dict[str, object]:
    """The shape of ``Worker.status()``, as served under ``runtime`` by GET /status."""
    runtime = {
        "service": "blender",
        "consumer": "blender-0",
        "shard": 0,
        "mode": "paper",
        "paused": False,
        "redis": True,
        "ticks": 1234,
        "last_tick": "2024-03-05T14:35:00+00:00",
        "end_of_data": False,
        "dead_letters": 2,
        "output_lag": {"signals": 17, "orders": 3},
        "fatal": None,
    }
    runtime.update(changes)
    return {"runtime": runtime, "service": {}, "commands": ["pause", "resume"]}


def test_render_aligns_numbers_right_and_text_left() -> None:
    text = render(("NAME", "COUNT"), [("ingest", "5"), ("predictor", "1234")])
    assert text.splitlines() == [
        "NAME       COUNT",
        "ingest         5",
        "predictor   1234",
    ]


def test_render_refuses_a_ragged_row() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render(("A", "B", "C"), [("1", "2")])


def test_clip_makes_one_line_of_bounded_width() -> None:
    assert clip("a\nb   c", 10) == "a b c"
    assert clip("x" * 20, 8) == "xxxxxxx…"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2024-03-05T14:35:00+00:00", "2024-03-05 14:35:00"),
        ("2024-03-05T09:35:00-05:00", "2024-03-05 14:35:00"),
        ("2024-03-05T14:35:00Z", "2024-03-05 14:35:00"),
        (None, "-"),
        ("not a time", "not a time"),
    ],
)
def test_short_time_shows_utc(value: str | None, shown: str) -> None:
    assert views.short_time(value) == shown


def test_status_row_of_a_ready_service() -> None:
    report = views.ServiceReport("blender", "http://x", runtime_status(), {"ready": True, "reasons": []})
    assert views.status_row(report) == ("blender", "yes", "1234", "2024-03-05 14:35:00", "17", "2", "no")
    assert views.status_notes(report) == []


def test_status_view_explains_not_ready_dead_and_unreachable_services() -> None:
    reports = [
        views.ServiceReport(
            "risk",
            "http://r",
            runtime_status(paused=True, output_lag={}, fatal="RuntimeError('boom')"),
            {"ready": False, "reasons": ["worker not running", "restoring state"]},
        ),
        views.ServiceReport("executor", "http://e", error="unreachable at http://e/status (refused)"),
    ]
    lines = views.status_view(reports).splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "READY",
        "TICKS",
        "LAST",
        "TICK",
        "(UTC)",
        "LAG",
        "DEAD",
        "LETTERS",
        "PAUSED",
    ]
    assert lines[1].split() == ["risk", "no", "1234", "2024-03-05", "14:35:00", "-", "2", "yes"]
    assert lines[2].split() == ["executor", "unreachable", "-", "-", "-", "-", "-"]
    assert lines[4:] == [
        "risk: not ready: worker not running; restoring state",
        "risk: worker died: RuntimeError('boom')",
        "executor: unreachable at http://e/status (refused)",
    ]


RISK_STATUS = {
    "runtime": {},
    "service": {
        "trading_state": "REDUCING",
        "last_tick": "2024-03-05T14:35:00+00:00",
        "equity": "98765.4321",
        "cash": "50000.00",
        "exposure": {"gross": "48765.43", "net": "12000", "gross_pct": 0.49375, "net_pct": 0.1215},
        "positions": {"AAPL": "10", "MSFT": "-3"},
        "working_orders": 1,
        "drawdown": 0.0123456,
        "peak_equity": "100000.00",
        "daily_pnl": "-1234.5679",
        "daily_loss": 0.0124,
        "denials": {"max_position": 3, "gross_exposure": 1},
    },
}


def test_state_view_shows_money_exactly_and_ratios_as_percent() -> None:
    text = views.state_view(RISK_STATUS)
    lines = {k.strip(): v.strip() for k, v in (line.split("  ", 1) for line in text.splitlines())}
    assert lines["trading state"] == "REDUCING"
    assert lines["equity"] == "98765.4321"  # Decimal strings are shown as the service sent them
    assert lines["daily PnL"] == "-1234.5679"
    assert lines["drawdown"] == "1.23%"
    assert lines["daily loss"] == "1.24%"
    assert lines["exposure"] == "gross 49.38%, net 12.15%"
    assert lines["open positions"] == "2"
    assert lines["denials"] == "gross_exposure=1 max_position=3"


def test_control_view_of_kill_reset_and_pause() -> None:
    kill = {
        "command": "kill",
        "result": {"command": "kill", "trading_state": "HALTED", "previous_state": "ACTIVE", "emitted": 2},
    }
    assert (
        views.control_view("risk", "kill", kill)
        == "risk: kill: trading state HALTED (was ACTIVE); 2 message(s) emitted"
    )
    reset = {
        "result": {
            "trading_state": "ACTIVE",
            "previous_state": "HALTED",
            "emitted": 1,
            "rebased": ["drawdown"],
        }
    }
    assert views.control_view("risk", "reset", reset).endswith(
        "(was HALTED); 1 message(s) emitted; rebased: drawdown"
    )
    assert views.control_view("predictor", "pause", {"result": {"paused": True}}) == "predictor: paused"
    assert views.control_view("predictor", "resume", {"result": {"paused": False}}) == "predictor: running"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"detail": "missing or wrong bearer token"}, "missing or wrong bearer token"),
        (
            {"detail": [{"loc": ["body", "confirm"], "msg": "Input should be a valid boolean"}]},
            "confirm: Input should be a valid boolean",
        ),
        ("Bad Gateway", "Bad Gateway"),
    ],
)
def test_refusal_reason_is_one_line(body: object, reason: str) -> None:
    assert views.refusal_reason(body) == reason


def test_positions_from_a_mapping_skip_flat_symbols_and_keep_the_summary() -> None:
    body = {
        "cash": "1000.00",
        "positions": {
            "AAPL": {
                "quantity": "10",
                "avg_price": "101.5",
                "market_value": "1020.00",
                "unrealized_pnl": "5.00",
            },
            "MSFT": {"quantity": "0", "avg_price": None},
            "TSLA": "-2",
        },
    }
    lines = views.positions_view(body).splitlines()
    assert lines[0] == "cash: 1000.00"
    assert lines[1].split() == ["SYMBOL", "QUANTITY", "AVG", "PRICE", "VALUE", "UNREALIZED"]
    assert lines[2].split() == ["AAPL", "10", "101.5", "1020.00", "5.00"]
    assert lines[3].split() == ["TSLA", "-2", "-", "-", "-"]
    assert len(lines) == 4


def test_positions_from_a_list_of_broker_positions() -> None:
    body = [{"symbol": "ETHBTC", "quantity": "1.5", "avg_entry_price": "0.05"}]
    assert views.positions_view(body).splitlines()[1].split() == ["ETHBTC", "1.5", "0.05"]
    assert views.positions_view({"positions": []}) == "no open positions"


ORDERS = {
    "orders": [
        {
            "client_order_id": f"rl-AAPL-{i}",
            "symbol": "AAPL",
            "side": "buy",
            "order_type": "market",
            "quantity": "10",
            "status": status,
            "event_time": f"2024-03-05T14:{i:02d}:00+00:00",
            "trade_ids": ["t1"],
        }
        for i, status in enumerate(["filled", "canceled", "filled", "new"])
    ]
}


def test_orders_filter_by_status_and_keep_the_last_n() -> None:
    lines = views.orders_view(ORDERS, status="FILLED").splitlines()
    assert [line.split()[2] for line in lines[1:]] == ["rl-AAPL-0", "rl-AAPL-2"]
    assert lines[1].split()[:2] == ["2024-03-05", "14:00:00"]
    last = views.orders_view(ORDERS, last=2).splitlines()
    assert [line.split()[2] for line in last[1:]] == ["rl-AAPL-2", "rl-AAPL-3"]
    assert views.orders_view(ORDERS, status="rejected") == "no orders"


def test_unknown_record_shapes_fall_back_to_every_scalar_field() -> None:
    text = views.orders_view([{"zeta": 1, "alpha": "x", "nested": {"a": 1}}])
    assert text.splitlines() == ["ALPHA  ZETA", "x         1"]


def letter(entry_id: str, error: str, minute: int) -> DeadLetter:
    return DeadLetter(
        event_time=datetime(2024, 3, 5, 14, minute, tzinfo=UTC),
        trace_id=f"dead@{entry_id}",
        stream="ridgeline:{s0}:stream:signals",
        entry_id=entry_id,
        group="risk",
        consumer="risk-0",
        attempts=3,
        error=error,
        fields={"m": "{}"},
    )


def test_dead_letter_rows_clip_errors_unless_full() -> None:
    long_error = "handler: ValueError('" + "x" * 200 + "')\nsecond line"
    entries = [
        views.DeadLetterEntry("1700000000000-0", letter("1699999999999-0", long_error, 5)),
        views.DeadLetterEntry("1700000000001-0", problem="entry has no 'm' field"),
    ]
    clipped = views.dead_letters_view(entries).splitlines()
    assert clipped[1].split()[:6] == ["2024-03-05", "14:05:00", "risk", "signals", "1699999999999-0", "3"]
    assert clipped[1].endswith("…") and "second line" not in clipped[1]
    assert "<unreadable dead letter 1700000000001-0: entry has no 'm' field>" in clipped[2]
    full = views.dead_letters_view(entries, error_width=None).splitlines()
    assert full[1].endswith("') second line")
    assert views.dead_letters_view([]) == "no dead letters"


@pytest.mark.parametrize(
    ("key", "stream"),
    [
        ("ridgeline:{s0}:stream:bars", "bars"),
        ("p:{s3}:stream:dead_letters", "dead_letters"),
        ("weird", "weird"),
    ],
)
def test_source_stream_names_the_stream(key: str, stream: str) -> None:
    assert views.source_stream(key) == stream
