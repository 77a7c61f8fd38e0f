"""The predictor's adapter: buffers bars per tick, runs the core at tick end, serves /models and
the ``reload_models`` control command."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from fastapi import APIRouter
from redis import Redis

from ridgeline_predictor.config import PredictorSettings
from ridgeline_predictor.core import PredictorCore
from ridgeline_predictor.registry import ModelRegistry, SessionSettings, load_registry
from ridgeline_shared.codec import messages_of
from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Stream, group_name
from ridgeline_shared.messages import Bar, Message
from ridgeline_shared.runtime.service import CommandError, Input, Outbox, Service

log = logging.getLogger(__name__)


class PredictorService(Service):
    name: ClassVar[str] = "predictor"
    inputs: ClassVar[tuple[Input, ...]] = (Input(Stream.BARS),)
    outputs: ClassVar[tuple[Stream, ...]] = (Stream.PREDICTIONS,)
    commands: ClassVar[tuple[str, ...]] = ("reload_models",)

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.psettings = (
            settings
            if isinstance(settings, PredictorSettings)
            else PredictorSettings.model_validate(settings.model_dump())
        )
        self.cfg = self.psettings.predictor
        self.registry = self._load(self.cfg.resolved_models_dir())
        for key, reason in sorted(self.registry.errors.items()):
            log.error("model %s not loaded: %s", key, reason)
        self.core = PredictorCore(
            self.cfg, self.psettings.interval, self.psettings.session_minutes, self.registry
        )
        self.rebuilt_bars = 0

    def _load(self, directory: Path) -> ModelRegistry:
        return load_registry(
            directory,
            self.psettings.interval,
            self.psettings.session_minutes,
            self.psettings.horizons,
            SessionSettings(
                self.cfg.onnx_intra_op_threads, self.cfg.onnx_inter_op_threads, self.cfg.onnx_allow_spinning
            ),
            allow_mapping=self.cfg.map_intervals,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self, redis: Redis | None) -> None:
        """Without a snapshot, refill the buffers (and standardisers) from the retained bars stream,
        up to what this service's group has already acknowledged: entries still pending will be
        redelivered by the worker, and bars already buffered are skipped if replayed again."""
        if redis is None or len(self.core.buffer) or self.cfg.rebuild_max_entries == 0:
            return
        bars = read_acknowledged_bars(
            redis, self.keys.stream(Stream.BARS), group_name(self.name), self.cfg.rebuild_max_entries
        )
        self.rebuilt_bars = self.core.replay(bars)
        log.info("rebuilt predictor state from %d retained bars", self.rebuilt_bars)

    def ready(self) -> tuple[bool, str]:
        if not self.registry.regressors:
            return False, f"no models loaded from {self.registry.directory}: {self.registry.errors}"
        return True, f"{len(self.registry.models)} models loaded"

    # -- handlers --------------------------------------------------------------------------
    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        if isinstance(message, Bar):
            self.core.add(message)

    def on_tick_end(self, event_time: datetime | None, out: Outbox) -> None:
        for prediction in self.core.tick():
            out.emit(Stream.PREDICTIONS, prediction)

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        return self.core.snapshot()

    def restore(self, data: bytes | None) -> None:
        self.core.restore(data)

    # -- control plane ---------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            **self.core.status(),
            "models_dir": str(self.registry.directory),
            "model_errors": dict(sorted(self.registry.errors.items())),
            "rebuilt_bars": self.rebuilt_bars,
        }

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/models")
        def models() -> dict[str, Any]:
            return self.registry.describe()

        return router

    def apply_command(self, command: str, payload: dict[str, Any], out: Outbox) -> dict[str, Any]:
        if command != "reload_models":
            raise CommandError(f"unknown command {command!r}")
        raw_dir = payload.get("models_dir")
        if raw_dir is not None and not isinstance(raw_dir, str):
            raise CommandError("models_dir must be a string path")
        directory = Path(raw_dir) if raw_dir else self.cfg.resolved_models_dir()
        registry = self._load(directory)
        if not registry.regressors:
            raise CommandError(f"refused: no usable model in {directory}: {registry.errors}")
        before = {m.name: m.version for m in self.registry.models.values()}
        # Runs between ticks in the worker thread: the swap is atomic with respect to messages.
        self.core.set_registry(registry)
        self.registry = registry
        after = {m.name: m.version for m in registry.models.values()}
        return {
            "models_dir": str(directory),
            "loaded": len(after),
            "changed": sorted(k for k, v in after.items() if before.get(k) != v),
            "removed": sorted(set(before) - set(after)),
            "errors": dict(sorted(registry.errors.items())),
        }


def read_acknowledged_bars(redis: Redis, key: str, group: str, limit: int) -> list[Bar]:
    """The last ``limit`` bars of the stream that ``group`` has acknowledged, oldest first."""
    if not redis.exists(key):
        return []
    groups = {g["name"]: g for g in redis.xinfo_groups(key)}
    info = groups.get(group) or groups.get(group.encode())
    if info is None:
        return []
    last = info["last-delivered-id"]
    last_id = last.decode() if isinstance(last, bytes) else str(last)
    if last_id in ("0-0", "0"):
        return []
    pending = redis.xpending(key, group)
    upper = last_id
    if pending and pending.get("pending"):
        first = pending["min"]
        upper = "(" + (first.decode() if isinstance(first, bytes) else str(first))
    # Newest first, a page at a time: an entry may be a frame holding a whole tick of bars.
    newest_first: list[Bar] = []
    while len(newest_first) < limit:
        page = cast(
            list[tuple[bytes, dict[bytes, bytes]]], redis.xrevrange(key, max=upper, min="-", count=256)
        )
        if not page:
            break
        for _entry_id, fields in page:
            bars = [m for m in messages_of(Stream.BARS, fields) if isinstance(m, Bar)]
            newest_first.extend(reversed(bars))
        upper = "(" + page[-1][0].decode()
    return list(reversed(newest_first[:limit]))
