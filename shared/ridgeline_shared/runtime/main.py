"""Process entry point shared by every service: settings, logs, worker thread, HTTP server."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import uvicorn

from ridgeline_shared.config import ConfigError, ServiceSettings, load_settings
from ridgeline_shared.runtime.app import create_app
from ridgeline_shared.runtime.logs import configure
from ridgeline_shared.runtime.service import Service
from ridgeline_shared.runtime.worker import Worker

log = logging.getLogger("ridgeline.main")

# A 1,000-symbol tick allocates hundreds of thousands of short-lived objects (messages, their
# dicts, Decimals) and few cycles: at CPython's default threshold (700) the young generation is
# collected hundreds of times per tick, up to 40 % of a service's time. Collections stay on, less
# often; what was loaded at start (models, modules) is frozen out of them.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Freeze what is loaded so far and collect the young generation less often (see above)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_service(service_cls: type[Service], settings_cls: type[ServiceSettings], **overrides: Any) -> None:
    """Start the service; exit 2 on bad configuration, 1 if the worker dies."""
    try:
        settings = load_settings(settings_cls, **overrides)
        service = service_cls(settings)
    except (ConfigError, ValueError) as exc:
        print(f"{service_cls.name}: {exc}", file=sys.stderr)
        sys.exit(2)
    configure(service.name, settings.log_level, settings.log_json)
    tune_gc()
    worker = Worker(service)
    config = uvicorn.Config(
        create_app(worker),
        host=settings.http.host,
        port=settings.http.port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)

    def on_fatal(exc: BaseException) -> None:
        server.should_exit = True

    worker.on_fatal = on_fatal
    worker.start()
    log.info("%s serving on %s:%d", service.name, settings.http.host, settings.http.port)
    try:
        server.run()
    finally:
        worker.stop()
    if worker.fatal is not None:
        sys.exit(1)
