"""The control-plane client: GET views, authenticated POST /control/<command>.

Every failure becomes an :class:`OpsError` whose message is one line naming the service, so the
CLI can print it and exit 1 without a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ridgeline.ops.views import refusal_reason


class OpsError(RuntimeError):
    """A one-line, operator-facing failure."""


class ServiceUnreachableError(OpsError):
    pass


class ControlRefusedError(OpsError):
    pass


class ControlPlane:
    """Talks to the services at ``urls`` (service name -> base URL)."""

    def __init__(
        self,
        urls: Mapping[str, str],
        timeout: float = 5.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = dict(urls)
        self.token = token
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.urls[service]}{path}"
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise ServiceUnreachableError(f"{service}: no answer from {url} in time") from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ServiceUnreachableError(f"{service}: unreachable at {url} ({reason})") from None

    @staticmethod
    def _json(service: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise OpsError(
                f"{service}: {response.request.method} {response.request.url.path} answered "
                f"HTTP {response.status_code} with a body that is not JSON"
            ) from None

    def get(self, service: str, path: str, *, allow: tuple[int, ...] = ()) -> Any:
        """GET a JSON view; statuses in ``allow`` (e.g. 503 of /ready) are answers, not errors."""
        response = self._send(service, "GET", path)
        if response.is_error and response.status_code not in allow:
            reason = refusal_reason(self._json_or_text(response))
            raise OpsError(f"{service}: GET {path} failed: HTTP {response.status_code} {reason}")
        return self._json(service, response)

    def control(self, service: str, command: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST /control/<command> with the bearer token; a 4xx/5xx raises with the service's reason."""
        if not self.token:
            raise OpsError(
                f"{command} needs the control token: pass --token or set RIDGELINE_HTTP__CONTROL_TOKEN"
            )
        response = self._send(
            service,
            "POST",
            f"/control/{command}",
            json=dict(payload or {}),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if response.is_error:
            reason = refusal_reason(self._json_or_text(response))
            kind = ControlRefusedError if response.is_client_error else OpsError
            raise kind(f"{service} refused {command}: HTTP {response.status_code} {reason}")
        body = self._json(service, response)
        return body if isinstance(body, dict) else {"result": body}

    @staticmethod
    def _json_or_text(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return response.text or response.reason_phrase
