"""The risk service's adapter: feeds the runtime's ticks to :class:`RiskEngine`, writes what it
returns, persists the trading state and limits, and serves the control plane.

The trading state and the limits live twice: in the snapshot (so a replay from it is exact) and
at their own Redis keys, written in the same MULTI/EXEC as the tick or command that changed them.
On start the keys win over the snapshot: a kill switch engaged after the last snapshot must hold
after a restart, and a command is not in any input stream that a replay could re-read. A key
that cannot be read fails closed (HALTED).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, ValidationError
from redis import Redis
from redis.client import Pipeline

from ridgeline_risk.config import LimitsUpdate, RiskLimits, RiskSettings
from ridgeline_risk.engine import Emitted, RiskEngine
from ridgeline_risk.views import Views
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Execution, Message, Signal, TradingState
from ridgeline_shared.runtime import metrics
from ridgeline_shared.runtime.service import CommandError, Input, Outbox, Service

log = logging.getLogger(__name__)

ACTOR = "control"


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KillPayload(_Payload):
    reason: str = "kill switch"
    # None: as configured by ``risk.on_halt``.
    flatten: bool | None = None


class ResetPayload(_Payload):
    confirm: bool = False


class ReducingPayload(_Payload):
    reason: str = "operator"


P = TypeVar("P", bound=BaseModel)


def _validate(model: type[P], payload: dict[str, Any]) -> P:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<payload>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise CommandError(errors) from None


class RiskService(Service):
    name: ClassVar[str] = "risk"
    inputs: ClassVar[tuple[Input, ...]] = (
        Input(Stream.EXECUTIONS, lag=1),
        Input(Stream.BARS),
        Input(Stream.SIGNALS),
    )
    outputs: ClassVar[tuple[Stream, ...]] = (Stream.ORDERS,)
    commands: ClassVar[tuple[str, ...]] = ("kill", "reset", "reducing", "limits")

    def __init__(self, settings: RiskSettings) -> None:
        super().__init__(settings)
        self.risk_settings = settings
        self.engine = RiskEngine(
            settings.risk,
            strategy_id=settings.strategy_id,
            interval=settings.interval,
            session_minutes=settings.session_minutes,
            market=settings.market,
        )
        self.state_key = self.keys.service_state(self.name, "trading_state")
        self.limits_key = self.keys.service_state(self.name, "limits")
        self._saved_state = self._state_pair()
        self._saved_limits = self.engine.limits
        self._views: Views
        self._metric_state: TradingState | None = None
        self._refresh_views()

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self, redis: Redis | None) -> None:
        if redis is None:  # the in-process backtest: nothing durable to read
            return
        engine = self.engine
        raw_state = redis.get(self.state_key)
        if raw_state is None:
            redis.set(self.state_key, self._state_record(engine.state))
        else:
            try:
                record = json.loads(raw_state)
                engine.state = TradingState(record["state"])
                engine.flattening = engine.state is TradingState.HALTED and bool(record.get("flattening"))
            except (ValueError, KeyError, TypeError):
                log.error("unreadable trading state at %s: %r; failing closed", self.state_key, raw_state)
                engine.state = TradingState.HALTED
                redis.set(self.state_key, self._state_record(engine.state, "unreadable record"))
        raw_limits = redis.get(self.limits_key)
        if raw_limits is None:
            redis.set(self.limits_key, engine.limits.model_dump_json())
        else:
            try:
                engine.limits = RiskLimits.model_validate_json(raw_limits)
            except ValidationError:
                log.error("unreadable limits at %s; keeping %s", self.limits_key, engine.limits)
        self._saved_state, self._saved_limits = self._state_pair(), engine.limits
        log.info("risk starts %s with limits %s", engine.state.value, engine.limits.model_dump(mode="json"))
        self._refresh_views()

    # -- handlers --------------------------------------------------------------------------
    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        if isinstance(message, Execution):
            self.engine.on_execution(message)
        elif isinstance(message, Bar):
            self.engine.on_bar(message)
        elif isinstance(message, Signal):
            self.engine.on_signal(message)

    def on_tick_end(self, event_time: datetime | None, out: Outbox) -> None:
        if event_time is None:
            return
        self._emit(self.engine.end_tick(event_time), out)

    def _emit(self, emitted: list[Emitted], out: Outbox) -> None:
        for stream, message in emitted:
            out.emit(stream, message)
        self._persist(out)
        self._refresh_views()

    def _state_pair(self) -> tuple[TradingState, bool]:
        return self.engine.state, self.engine.flattening

    def _state_record(self, state: TradingState, reason: str = "") -> str:
        record = {
            "state": state.value,
            "flattening": self.engine.flattening,
            "event_time": self.engine.command_time.isoformat(),
            "reason": reason,
        }
        return json.dumps(record, sort_keys=True)

    def _persist(self, out: Outbox) -> None:
        engine = self.engine
        if self._state_pair() != self._saved_state:
            key, record = self.state_key, self._state_record(engine.state)

            def save_state(pipe: Pipeline) -> None:
                pipe.set(key, record)

            out.add_op(save_state)
            self._saved_state = self._state_pair()
        if engine.limits is not self._saved_limits and engine.limits != self._saved_limits:
            limits_key, limits = self.limits_key, engine.limits.model_dump_json()

            def save_limits(pipe: Pipeline) -> None:
                pipe.set(limits_key, limits)

            out.add_op(save_limits)
            self._saved_limits = engine.limits

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        return json.dumps(self.engine.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def restore(self, data: bytes | None) -> None:
        if data is None:
            self.engine.reset_state()
        else:
            self.engine.load(json.loads(data))
        self._saved_state, self._saved_limits = self._state_pair(), self.engine.limits
        self._refresh_views()

    # -- control plane ---------------------------------------------------------------------
    def apply_command(self, command: str, payload: dict[str, Any], out: Outbox) -> dict[str, Any]:
        engine = self.engine
        before = engine.state
        extra: dict[str, Any] = {}
        if command == "kill":
            kill = _validate(KillPayload, payload)
            emitted = engine.kill(ACTOR, kill.reason, kill.flatten)
        elif command == "reset":
            if not _validate(ResetPayload, payload).confirm:
                raise CommandError('reset lifts the halt only with the payload {"confirm": true}')
            emitted, rebased = engine.reset(ACTOR)
            extra["rebased"] = rebased
        elif command == "reducing":
            reducing = _validate(ReducingPayload, payload)
            if engine.state is TradingState.HALTED:
                raise CommandError("trading is HALTED: only a reset lifts it")
            emitted = engine.set_reducing(ACTOR, reducing.reason)
        elif command == "limits":
            update = _validate(LimitsUpdate, payload)
            try:
                emitted = engine.change_limits(update, ACTOR)
            except ValidationError as exc:
                raise CommandError(str(exc)) from None
            extra["limits"] = engine.limits.model_dump(mode="json")
        else:
            raise CommandError(f"unknown command {command!r}")
        self._emit(emitted, out)
        return {
            "command": command,
            "trading_state": engine.state.value,
            "previous_state": before.value,
            "emitted": len(emitted),
            **extra,
        }

    def _refresh_views(self) -> None:
        # Captured in the worker thread and swapped whole, so HTTP threads never read a
        # half-updated engine; the dicts are built from it on request (views.py).
        engine = self.engine
        views = self._views = Views(engine.capture())
        metrics.EQUITY.set(float(views.capture.equity))
        metrics.PNL_REALIZED.set(float(engine.portfolio.ledger.realized_pnl))
        if engine.state is not self._metric_state:
            for state in TradingState:
                metrics.TRADING_STATE.labels(state.value).set(int(state is engine.state))
            self._metric_state = engine.state

    def status(self) -> dict[str, Any]:
        return self._views.status()

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/limits")
        def limits() -> dict[str, Any]:
            return self._views.limits()

        @router.get("/portfolio")
        def portfolio() -> dict[str, Any]:
            return self._views.portfolio()

        return router
