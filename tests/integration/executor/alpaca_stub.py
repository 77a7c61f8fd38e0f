"""A local HTTP server speaking the subset of Alpaca's Trading API v2 that alpaca-py's
TradingClient calls for orders, positions and the account (no Alpaca endpoint is reachable here).

Shapes follow Alpaca's documented JSON: order objects with ``client_order_id``, string
quantities and prices, ``GET /v2/orders:by_client_order_id``, 422 on a reused client order id,
404 for an unknown order, 422 when canceling a closed order, key headers on every request.
``fill()`` plays the venue's matching engine.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

KEY, SECRET = "PKTEST", "SECRETTEST"
OPEN = {"new", "accepted", "pending_new", "partially_filled", "pending_cancel"}


def _plain(value: float) -> str:
    """A JSON number as Alpaca writes quantities: a plain decimal string."""
    return format(Decimal(repr(value)).normalize(), "f")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class StubVenue:
    cash: Decimal = Decimal(100_000)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # qty, cost
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    reject_next: str | None = None
    # While True the server drops every connection without answering (a network outage).
    offline: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_client_id(self, cid: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["client_order_id"] == cid), None)

    def fill(self, cid: str, qty: str, price: str) -> None:
        """The venue trades ``qty`` of the order at ``price`` (cumulative figures updated)."""
        with self.lock:
            order = self.by_client_id(cid)
            assert order is not None
            q, p = Decimal(qty), Decimal(price)
            filled = Decimal(order["filled_qty"])
            avg = Decimal(order["filled_avg_price"] or 0)
            total = filled + q
            order["filled_avg_price"] = str((filled * avg + q * p) / total)
            order["filled_qty"] = str(total)
            order["status"] = "filled" if total == Decimal(order["qty"]) else "partially_filled"
            order["updated_at"] = _now()
            signed = q if order["side"] == "buy" else -q
            held, cost = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))
            self.positions[order["symbol"]] = (held + signed, cost + signed * p)
            self.cash -= signed * p


class _Handler(BaseHTTPRequestHandler):
    venue: StubVenue

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.venue.offline:
            self.close_connection = True
            return False
        if self.headers.get("APCA-API-KEY-ID") == KEY and self.headers.get("APCA-API-SECRET-KEY") == SECRET:
            return True
        self._send(401, {"code": 40110000, "message": "request is not authorized"})
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        venue = self.venue
        venue.requests.append(("GET", url.path, query))
        with venue.lock:
            if url.path == "/v2/orders:by_client_order_id":
                order = venue.by_client_id(query.get("client_order_id", ""))
                if order is None:
                    self._send(404, {"code": 40410000, "message": "order not found"})
                else:
                    self._send(200, order)
            elif url.path == "/v2/orders":
                wanted = query.get("status", "open")
                rows = [
                    o
                    for o in venue.orders.values()
                    if wanted == "all" or (o["status"] in OPEN) == (wanted == "open")
                ]
                self._send(200, rows[: int(query.get("limit", 50))])
            elif url.path.startswith("/v2/orders/"):
                order = venue.orders.get(url.path.rsplit("/", 1)[1])
                self._send(
                    404, {"code": 40410000, "message": "order not found"}
                ) if order is None else self._send(200, order)
            elif url.path == "/v2/positions":
                self._send(
                    200, [self._position(s, q, c) for s, (q, c) in sorted(venue.positions.items()) if q]
                )
            elif url.path == "/v2/account":
                self._send(200, self._account())
            else:
                self._send(404, {"code": 40400000, "message": "not found"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        venue = self.venue
        venue.requests.append(("POST", self.path, body))
        if self.path != "/v2/orders":
            self._send(404, {"code": 40400000, "message": "not found"})
            return
        with venue.lock:
            cid = body.get("client_order_id") or str(uuid.uuid4())
            if venue.by_client_id(cid) is not None:
                self._send(422, {"code": 40010001, "message": "client_order_id must be unique"})
                return
            if venue.reject_next:
                message, venue.reject_next = venue.reject_next, None
                self._send(403, {"code": 40310000, "message": message})
                return
            now = _now()
            order = {
                "id": str(uuid.uuid4()), "client_order_id": cid, "created_at": now, "updated_at": now,
                "submitted_at": now, "filled_at": None, "expired_at": None, "canceled_at": None,
                "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])), "symbol": body["symbol"],
                "asset_class": "us_equity", "notional": None, "qty": _plain(body["qty"]),
                "filled_qty": "0", "filled_avg_price": None, "order_class": "", "order_type": body["type"],
                "type": body["type"], "side": body["side"], "time_in_force": body["time_in_force"],
                "limit_price": None if body.get("limit_price") is None else str(body["limit_price"]),
                "stop_price": None, "status": "accepted", "extended_hours": False, "legs": None,
                "trail_percent": None, "trail_price": None, "hwm": None,
            }  # fmt: skip
            venue.orders[order["id"]] = order
            self._send(200, order)

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        venue = self.venue
        venue.requests.append(("DELETE", self.path, None))
        with venue.lock:
            order = venue.orders.get(self.path.rsplit("/", 1)[1])
            if order is None:
                self._send(404, {"code": 40410000, "message": "order not found"})
            elif order["status"] not in OPEN:
                self._send(422, {"code": 42210000, "message": "order is not cancelable"})
            else:
                order["status"], order["canceled_at"] = "canceled", _now()
                self._send(204)

    @staticmethod
    def _position(symbol: str, qty: Decimal, cost: Decimal) -> dict[str, Any]:
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)), "symbol": symbol, "exchange": "NASDAQ",
            "asset_class": "us_equity", "asset_marginable": True, "avg_entry_price": str(cost / qty),
            "qty": str(qty), "side": "long" if qty > 0 else "short", "market_value": str(cost),
            "cost_basis": str(cost), "unrealized_pl": "0", "unrealized_plpc": "0",
            "current_price": str(cost / qty),
            "qty_available": str(qty),
        }  # fmt: skip

    def _account(self) -> dict[str, Any]:
        cash = self.venue.cash
        return {
            "id": "2f0f4c2e-9a4f-4f8b-9a55-6f1f2f8b1e11", "account_number": "PA3TEST", "status": "ACTIVE",
            "currency": "USD", "cash": str(cash), "buying_power": str(cash), "equity": str(cash),
            "portfolio_value": str(cash), "pattern_day_trader": False, "trading_blocked": False,
        }  # fmt: skip


class AlpacaStub:
    """``with AlpacaStub() as stub: stub.url``: the server runs in a thread on a free port."""

    def __init__(self) -> None:
        self.venue = StubVenue()
        handler = type("Handler", (_Handler,), {"venue": self.venue})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> AlpacaStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
