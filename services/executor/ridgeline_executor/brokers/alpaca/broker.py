"""Alpaca through alpaca-py's TradingClient: paper or live endpoint by configuration, or any URL
(``url``: a proxy, or the local server that speaks Alpaca's API in the tests).

Our client order id is Alpaca's ``client_order_id``, so an order whose submission outcome is
unknown is found with ``GET /v2/orders:by_client_order_id`` and a second submission of the same
id is refused by Alpaca (422, "client_order_id must be unique"). Network failures, timeouts and
5xx answers raise :class:`BrokerUnavailableError` (outcome unknown: reconcile); a 4xx answer to a
submission is the venue's rejection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from ridgeline_executor.brokers.alpaca import parsing
from ridgeline_executor.brokers.alpaca.config import AlpacaConfig
from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderSpec,
)

log = logging.getLogger("ridgeline.executor.alpaca")

T = TypeVar("T")


class _TimeoutSession(requests.Session):
    """alpaca-py sends without a timeout; a hung venue must not hang the executor."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def _message(exc: APIError) -> str:
    try:
        return str(json.loads(str(exc)).get("message", exc))
    except (ValueError, AttributeError):
        return str(exc)


class AlpacaBroker(Broker):
    def __init__(self, config: AlpacaConfig, client: TradingClient | None = None) -> None:
        self.config = config
        self.venue = config.venue
        if client is None:
            client = TradingClient(
                api_key=config.api_key.get_secret_value() if config.api_key else None,
                secret_key=config.secret_key.get_secret_value() if config.secret_key else None,
                paper=config.paper,
                url_override=config.url,
            )
            client._session = _TimeoutSession(config.timeout_s)
        self.client = client

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise BrokerUnavailableError(f"alpaca unreachable: {exc}") from exc
        except APIError as exc:
            if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429:
                raise BrokerUnavailableError(f"alpaca answered {exc.status_code}: {_message(exc)}") from exc
            raise

    # -- the protocol --------------------------------------------------------------------
    def submit(self, spec: OrderSpec) -> BrokerOrder:
        try:
            order = self._call(self.client.submit_order, parsing.order_request(spec))
        except APIError as exc:
            message = _message(exc)
            if "client_order_id" in message and "unique" in message:
                raise DuplicateClientOrderIdError(message) from exc
            log.warning("alpaca rejected %s: %s", spec.client_order_id, message)
            return parsing.rejected(spec, f"alpaca {exc.status_code}: {message}")
        return parsing.parse_order(order)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        try:
            order = self._call(self.client.get_order_by_client_id, client_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise BrokerError(f"alpaca: query of {client_order_id} failed: {_message(exc)}") from exc
        return parsing.parse_order(order)

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        report = self.get_order(client_order_id)
        if report is None or report.venue_order_id is None:
            return report
        try:
            self._call(self.client.cancel_order_by_id, report.venue_order_id)
        except APIError as exc:
            # 422: no longer cancelable (filled or closed meanwhile): the report says what it is.
            if exc.status_code not in (404, 422):
                raise BrokerError(f"alpaca: cancel of {client_order_id} failed: {_message(exc)}") from exc
        return self.get_order(client_order_id)

    def open_orders(self) -> list[BrokerOrder]:
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=self.config.page_size)
        try:
            orders = self._call(self.client.get_orders, request)
        except APIError as exc:
            raise BrokerError(f"alpaca: listing open orders failed: {_message(exc)}") from exc
        return [parsing.parse_order(o) for o in orders]

    def positions(self) -> list[BrokerPosition]:
        try:
            positions = self._call(self.client.get_all_positions)
        except APIError as exc:
            raise BrokerError(f"alpaca: listing positions failed: {_message(exc)}") from exc
        return [parsing.parse_position(p) for p in positions]

    def account(self) -> BrokerAccount:
        try:
            account = self._call(self.client.get_account)
        except APIError as exc:
            raise BrokerError(f"alpaca: reading the account failed: {_message(exc)}") from exc
        return parsing.parse_account(account)

    def close(self) -> None:
        self.client._session.close()
