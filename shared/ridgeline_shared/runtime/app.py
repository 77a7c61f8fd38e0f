"""The control plane every service serves: health, readiness, metrics, status, control."""

from __future__ import annotations

import secrets
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ridgeline_shared.runtime.service import CommandError
from ridgeline_shared.runtime.worker import BUILTIN_COMMANDS, Worker

_bearer = HTTPBearer(auto_error=False)


def require_token(worker: Worker) -> Any:
    """Dependency: control needs the configured bearer token; with none configured it refuses."""

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        token = worker.settings.http.control_token
        if token is None or not token.get_secret_value():
            raise HTTPException(status.HTTP_403_FORBIDDEN, "control is disabled: no control token configured")
        if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), token.get_secret_value().encode()
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def create_app(worker: Worker) -> FastAPI:
    service = worker.service
    app = FastAPI(
        title=f"ridgeline-{service.name}",
        description=f"Health, status and control of Ridgeline's {service.name} service.",
        version="0.1.0",
    )
    commands = sorted({*BUILTIN_COMMANDS, *service.commands})

    @app.get("/health", tags=["probes"])
    def health() -> dict[str, Any]:
        """Alive: the process serves HTTP and its worker thread runs."""
        if not worker.alive and worker.fatal is not None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"worker died: {worker.fatal!r}")
        return {"status": "ok", "service": service.name}

    @app.get("/ready", tags=["probes"])
    def ready(response: Response) -> dict[str, Any]:
        """Ready: Redis reachable, groups present, state restored, service-specific checks, lag bounded."""
        ok, reasons = worker.ready()
        if not ok:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"ready": ok, "reasons": reasons}

    @app.get("/metrics", tags=["probes"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status", tags=["status"])
    def get_status() -> dict[str, Any]:
        return {"runtime": worker.status(), "service": service.status(), "commands": commands}

    @app.post("/control/{command}", tags=["control"], dependencies=[Depends(require_token(worker))])
    def control(command: str, payload: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        """Run a control command between ticks. Needs ``Authorization: Bearer <token>``."""
        if command not in commands:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown command {command!r}; known: {commands}")
        if not worker.alive:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "worker is not running")
        try:
            return {"command": command, "result": worker.submit(command, payload or {})}
        except CommandError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        except FutureTimeout as exc:
            raise HTTPException(
                status.HTTP_504_GATEWAY_TIMEOUT, "worker did not apply the command in time"
            ) from exc

    extra = service.router()
    if extra is not None:
        app.include_router(extra)
    return app
