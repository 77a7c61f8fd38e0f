"""Turn control-plane answers and dead letters into terminal text. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ridgeline.ops.tables import clip, render
from ridgeline_shared.messages import DeadLetter


def short_time(value: str | None) -> str:
    """ISO timestamp -> ``YYYY-MM-DD HH:MM:SS`` in UTC; ``-`` when absent, as-is when unparsable."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(scalar(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={scalar(v)}" for k, v in value.items()) or "-"
    return str(value)


def percent(value: Any) -> str:
    """A fraction (0.0123) as ``1.23%``; other values as they are."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2%}"
    return scalar(value)


# -- status ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ServiceReport:
    """What ``status`` learnt from one service: its /status and /ready bodies, or why not."""

    service: str
    url: str
    status: Mapping[str, Any] | None = None
    ready: Mapping[str, Any] | None = None
    error: str | None = None


STATUS_HEADERS = ("SERVICE", "READY", "TICKS", "LAST TICK (UTC)", "LAG", "DEAD LETTERS", "PAUSED")


def status_row(report: ServiceReport) -> tuple[str, ...]:
    if report.error is not None or report.status is None:
        return (report.service, "unreachable", "-", "-", "-", "-", "-")
    runtime = report.status.get("runtime", {})
    ready = report.ready or {}
    lags = runtime.get("output_lag") or {}
    return (
        report.service,
        scalar(ready.get("ready")) if "ready" in ready else "?",
        scalar(runtime.get("ticks")),
        short_time(runtime.get("last_tick")),
        str(max(lags.values())) if lags else "-",
        scalar(runtime.get("dead_letters")),
        scalar(runtime.get("paused")),
    )


def status_notes(report: ServiceReport) -> list[str]:
    """Why a service is not ready, or died, or is done: one line each, under the table."""
    if report.error is not None:
        return [f"{report.service}: {report.error}"]
    notes = []
    reasons = (report.ready or {}).get("reasons") or []
    if reasons:
        notes.append(f"{report.service}: not ready: {'; '.join(map(str, reasons))}")
    runtime = (report.status or {}).get("runtime", {})
    if runtime.get("fatal"):
        notes.append(f"{report.service}: worker died: {runtime['fatal']}")
    if runtime.get("end_of_data"):
        notes.append(f"{report.service}: reached end of data")
    return notes


def status_view(reports: Sequence[ServiceReport]) -> str:
    table = render(STATUS_HEADERS, [status_row(r) for r in reports])
    notes = [note for r in reports for note in status_notes(r)]
    return "\n".join([table, *(["", *notes] if notes else [])])


# -- risk state --------------------------------------------------------------------------------
def state_view(risk_status: Mapping[str, Any]) -> str:
    """Risk's trading state and money from the ``service`` part of its /status."""
    state = risk_status.get("service", risk_status)
    positions = state.get("positions") or {}
    denials = state.get("denials") or {}
    lines = [
        ("trading state", scalar(state.get("trading_state"))),
        ("equity", scalar(state.get("equity"))),
        ("cash", scalar(state.get("cash"))),
        ("drawdown", percent(state.get("drawdown"))),
        ("peak equity", scalar(state.get("peak_equity"))),
        ("daily PnL", scalar(state.get("daily_pnl"))),
        ("daily loss", percent(state.get("daily_loss"))),
        ("open positions", str(len(positions))),
        ("working orders", scalar(state.get("working_orders"))),
        ("last tick (UTC)", short_time(state.get("last_tick"))),
        ("denials", scalar(dict(sorted(denials.items()))) if denials else "none"),
    ]
    exposure = state.get("exposure")
    if isinstance(exposure, Mapping):
        gross, net = percent(exposure.get("gross_pct")), percent(exposure.get("net_pct"))
        lines.insert(5, ("exposure", f"gross {gross}, net {net}"))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in lines)


# -- control -----------------------------------------------------------------------------------
def control_view(service: str, command: str, body: Mapping[str, Any]) -> str:
    result = body.get("result", body)
    if not isinstance(result, Mapping):
        return f"{service}: {command}: {scalar(result)}"
    if "trading_state" in result:
        text = f"{service}: {command}: trading state {result['trading_state']}"
        if result.get("previous_state") and result["previous_state"] != result["trading_state"]:
            text += f" (was {result['previous_state']})"
        if result.get("emitted"):
            text += f"; {result['emitted']} message(s) emitted"
        if result.get("rebased"):
            text += f"; rebased: {scalar(result['rebased'])}"
        return text
    if "paused" in result:
        return f"{service}: {'paused' if result['paused'] else 'running'}"
    return f"{service}: {command}: {scalar(dict(result))}"


def refusal_reason(body: Any) -> str:
    """FastAPI's ``{"detail": ...}`` (a string, or a list of validation errors) as one line."""
    detail = body.get("detail", body) if isinstance(body, Mapping) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        detail = "; ".join(parts)
    return clip(str(detail), 300)


# -- executor records --------------------------------------------------------------------------
def records(body: Any, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split an answer into top-level scalars (a summary) and rows.

    Accepts a list of objects, ``{key: [objects]}``, or ``{key: {name: object | value}}`` (the
    name becomes the ``symbol`` / ``client_order_id`` column), so the CLI keeps working while
    the executor's views gain fields.
    """
    summary: dict[str, Any] = {}
    raw: Any = body
    if isinstance(body, Mapping):
        raw = body.get(key, [])
        summary = {k: v for k, v in body.items() if k != key and not isinstance(v, Mapping | list)}
    name = "symbol" if key == "positions" else "client_order_id"
    rows: list[dict[str, Any]] = []
    if isinstance(raw, Mapping):
        for ident, item in raw.items():
            row = {name: ident, **item} if isinstance(item, Mapping) else {name: ident, "quantity": item}
            rows.append(row)
    elif isinstance(raw, list):
        rows = [dict(item) if isinstance(item, Mapping) else {"value": item} for item in raw]
    return summary, rows


POSITION_COLUMNS = (
    ("symbol", "SYMBOL"),
    ("quantity", "QUANTITY"),
    ("avg_entry_price", "AVG PRICE"),
    ("avg_price", "AVG PRICE"),
    ("last_price", "LAST"),
    ("market_value", "VALUE"),
    ("unrealized_pnl", "UNREALIZED"),
    ("realized_pnl", "REALIZED"),
)
ORDER_COLUMNS = (
    ("event_time", "TIME (UTC)"),
    ("client_order_id", "CLIENT ORDER ID"),
    ("symbol", "SYMBOL"),
    ("side", "SIDE"),
    ("order_type", "TYPE"),
    ("quantity", "QTY"),
    ("limit_price", "LIMIT"),
    ("status", "STATUS"),
    ("filled_quantity", "FILLED"),
    ("avg_fill_price", "AVG FILL"),
    ("reason", "REASON"),
)


def record_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """The known columns present in any row, in order; every scalar field when none is known."""
    present = [(k, h) for k, h in columns if any(k in r for r in rows)]
    seen_headers: set[str] = set()
    chosen = []
    for key, header in present:
        if header not in seen_headers:  # avg_entry_price and avg_price share a column
            chosen.append((key, header))
            seen_headers.add(header)
    if not chosen:
        keys = sorted({k for r in rows for k, v in r.items() if not isinstance(v, Mapping | list)})
        chosen = [(k, k.upper()) for k in keys]

    def cell(row: Mapping[str, Any], key: str) -> str:
        value = row.get(key)
        if value is None and key == "avg_entry_price":
            value = row.get("avg_price")
        if key.endswith("_time") and isinstance(value, str):
            return short_time(value)
        return clip(scalar(value), 40)

    return render([h for _, h in chosen], [[cell(r, k) for k, _ in chosen] for r in rows])


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    return [f"{key}: {scalar(value)}" for key, value in summary.items()]


def positions_view(body: Any) -> str:
    summary, rows = records(body, "positions")
    rows = [r for r in rows if scalar(r.get("quantity")) not in ("0", "0.0")]
    table = record_table(rows, POSITION_COLUMNS) if rows else "no open positions"
    return "\n".join([*summary_lines(summary), table])


def orders_view(body: Any, status: str | None = None, last: int | None = None) -> str:
    summary, rows = records(body, "orders")
    if status:
        rows = [r for r in rows if str(r.get("status", "")).lower() == status.lower()]
    if last is not None:
        rows = rows[-last:] if last > 0 else []
    table = record_table(rows, ORDER_COLUMNS) if rows else "no orders"
    return "\n".join([*summary_lines(summary), table])


# -- dead letters ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One entry of the dead-letter stream: the letter, or why it could not be read."""

    entry_id: str
    letter: DeadLetter | None = None
    problem: str | None = None


DEAD_LETTER_HEADERS = ("TIME (UTC)", "SERVICE", "SOURCE STREAM", "ENTRY ID", "ATTEMPTS", "ERROR")


def source_stream(key: str) -> str:
    """``ridgeline:{s0}:stream:bars`` -> ``bars``; anything else as it is."""
    head, sep, tail = key.rpartition(":stream:")
    return tail if sep and head else key


def dead_letter_row(entry: DeadLetterEntry, error_width: int | None) -> tuple[str, ...]:
    letter = entry.letter
    if letter is None:
        problem = f"<unreadable dead letter {entry.entry_id}: {entry.problem}>"
        return ("-", "-", "-", entry.entry_id, "-", clip(problem, error_width or 10_000))
    error = " ".join(letter.error.split())
    return (
        letter.event_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        letter.group,
        source_stream(letter.stream),
        letter.entry_id,
        str(letter.attempts),
        clip(error, error_width) if error_width else error,
    )


def dead_letters_view(entries: Sequence[DeadLetterEntry], error_width: int | None = 80) -> str:
    if not entries:
        return "no dead letters"
    return render(DEAD_LETTER_HEADERS, [dead_letter_row(e, error_width) for e in entries])
