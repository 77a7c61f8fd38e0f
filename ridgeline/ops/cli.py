"""argparse subcommands of the ``ridgeline`` console command for operators.

The root CLI calls :func:`register` with its subparsers; every subcommand sets ``func``, a
callable ``(args) -> exit status`` that prints its own one-line error (exit 1) on failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ridgeline.ops import deadletters, views
from ridgeline.ops.http import ControlPlane, OpsError
from ridgeline.ops.targets import SERVICES, TargetError, check_service, resolve
from ridgeline_shared.keys import Keys

Handler = Callable[[argparse.Namespace], int]
TOKEN_ENV = "RIDGELINE_HTTP__CONTROL_TOKEN"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _http_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("service addresses")
    group.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="a service's base URL (repeatable); else env RIDGELINE_<SERVICE>_URL, "
        "else http://127.0.0.1:8101..8105 for " + ", ".join(SERVICES),
    )
    group.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    parent.add_argument("--json", action="store_true", help="print the raw JSON answer")
    return parent


def _token_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--token", help=f"control bearer token (default: env {TOKEN_ENV})")
    return parent


def register(subparsers: Any) -> None:
    """Add the operator subcommands to the root parser's ``add_subparsers()`` object."""
    http, token = _http_options(), _token_options()

    def add(name: str, handler: Handler, help_text: str, *parents: argparse.ArgumentParser) -> Any:
        parser = subparsers.add_parser(name, help=help_text, description=help_text, parents=list(parents))
        parser.set_defaults(func=_guarded(handler))
        return parser

    status = add("status", cmd_status, "readiness, ticks, lag, dead letters and pause of every service", http)
    status.add_argument("services", nargs="*", metavar="SERVICE", help="only these (default: all five)")
    add("state", cmd_state, "risk's trading state, equity, drawdown and daily PnL", http)
    kill = add("kill", cmd_kill, "kill switch: risk goes HALTED and cancels working orders", http, token)
    kill.add_argument("--reason", default="kill switch (operator CLI)", help="recorded in the risk event")
    kill.add_argument(
        "--flatten",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also close every position (default: risk.on_halt)",
    )
    add("reset", cmd_reset, "lift HALTED/REDUCING back to ACTIVE (sends confirm=true)", http, token)
    for name, verb in (("pause", "stop"), ("resume", "restart")):
        handler = cmd_pause if name == "pause" else cmd_resume
        parser = add(name, handler, f"{verb} a service's consumer", http, token)
        parser.add_argument("service", choices=SERVICES, metavar="SERVICE", help=", ".join(SERVICES))
    add("positions", cmd_positions, "the executor's positions", http)
    orders = add("orders", cmd_orders, "the executor's orders", http)
    orders.add_argument("--status", help="only orders with this status (e.g. filled, canceled)")
    orders.add_argument("-n", "--last", type=int, default=None, help="only the last N orders")
    dead = add("deadletters", cmd_deadletters, "tail of the dead-letter stream, read from Redis")
    dead.add_argument(
        "--redis-url",
        default=None,
        help=f"default: env RIDGELINE_REDIS_URL, else {DEFAULT_REDIS_URL}",
    )
    dead.add_argument("--prefix", default=None, help="key prefix (env RIDGELINE_PREFIX, else ridgeline)")
    dead.add_argument("--shard", type=int, default=None, help="symbol shard (env RIDGELINE_SHARD, else 0)")
    dead.add_argument("-n", type=int, default=20, help="how many of the latest letters (default 20)")
    dead.add_argument("--full", action="store_true", help="do not shorten errors to one table cell")
    dead.add_argument("--json", action="store_true", help="print the letters as JSON lines, fields included")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ridgeline", description="Ridgeline operator commands.")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


def _guarded(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (OpsError, TargetError) as exc:
            print(f"ridgeline {args.command}: {exc}", file=sys.stderr)
            return 1

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


# -- helpers -----------------------------------------------------------------------------------
def control_plane(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ControlPlane:
    env = os.environ if env is None else env
    token = getattr(args, "token", None) or env.get(TOKEN_ENV) or None
    return ControlPlane(resolve(args.url, env), timeout=args.timeout, token=token)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _show(args: argparse.Namespace, body: Any, text: str) -> int:
    if args.json:
        _print_json(body)
    else:
        print(text)
    return 0


# -- commands ----------------------------------------------------------------------------------
def probe(plane: ControlPlane, service: str) -> views.ServiceReport:
    url = plane.urls[service]
    try:
        status = plane.get(service, "/status")
        ready = plane.get(service, "/ready", allow=(503,))
    except OpsError as exc:
        return views.ServiceReport(service, url, error=str(exc).removeprefix(f"{service}: "))
    return views.ServiceReport(service, url, status=status, ready=ready)


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 1 when any service is unreachable (the table still shows the others)."""
    names = [check_service(n) for n in args.services] or list(SERVICES)
    with control_plane(args) as plane, ThreadPoolExecutor(max_workers=len(names)) as pool:
        reports = list(pool.map(lambda name: probe(plane, name), names))
    if args.json:
        _print_json({r.service: dataclasses.asdict(r) for r in reports})
    else:
        print(views.status_view(reports))
    return 1 if any(r.error for r in reports) else 0


def cmd_state(args: argparse.Namespace) -> int:
    with control_plane(args) as plane:
        body = plane.get("risk", "/status")
    return _show(args, body, views.state_view(body))


def _control(args: argparse.Namespace, service: str, command: str, payload: dict[str, Any]) -> int:
    with control_plane(args) as plane:
        body = plane.control(service, command, payload)
    return _show(args, body, views.control_view(service, command, body))


def cmd_kill(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"reason": args.reason}
    if args.flatten is not None:
        payload["flatten"] = args.flatten
    return _control(args, "risk", "kill", payload)


def cmd_reset(args: argparse.Namespace) -> int:
    return _control(args, "risk", "reset", {"confirm": True})


def cmd_pause(args: argparse.Namespace) -> int:
    return _control(args, args.service, "pause", {})


def cmd_resume(args: argparse.Namespace) -> int:
    return _control(args, args.service, "resume", {})


def cmd_positions(args: argparse.Namespace) -> int:
    with control_plane(args) as plane:
        body = plane.get("executor", "/positions")
    return _show(args, body, views.positions_view(body))


def cmd_orders(args: argparse.Namespace) -> int:
    with control_plane(args) as plane:
        body = plane.get("executor", "/orders")
    return _show(args, body, views.orders_view(body, args.status, args.last))


def dead_letter_source(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[str, Keys]:
    env = os.environ if env is None else env
    url = args.redis_url or env.get("RIDGELINE_REDIS_URL") or DEFAULT_REDIS_URL
    prefix = args.prefix or env.get("RIDGELINE_PREFIX") or "ridgeline"
    shard = args.shard if args.shard is not None else int(env.get("RIDGELINE_SHARD") or 0)
    return url, Keys(prefix, shard)


def cmd_deadletters(args: argparse.Namespace) -> int:
    url, keys = dead_letter_source(args)
    entries = deadletters.read_tail(url, keys, args.n)
    if args.json:
        for entry in entries:
            letter = entry.letter.model_dump(mode="json") if entry.letter else None
            record = {"id": entry.entry_id, "letter": letter, "problem": entry.problem}
            print(json.dumps(record, sort_keys=True))
    else:
        print(views.dead_letters_view(entries, error_width=None if args.full else 80))
    return 0
