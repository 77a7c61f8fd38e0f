"""The blender's adapter: routes bars, predictions and executions to the pure core."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter

from ridgeline_blender.config import BlenderSettings
from ridgeline_blender.core import Blender
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Execution, Message, Predictions
from ridgeline_shared.runtime.service import Input, Outbox, Service


class BlenderService(Service):
    """Bars update market statistics and mature the bandit's outcomes; executions (lag 1, a
    feedback edge) tell which signals traded; predictions are blended at the tick's end into one
    Signal per symbol."""

    name: ClassVar[str] = "blender"
    inputs: ClassVar[tuple[Input, ...]] = (
        Input(Stream.BARS),
        Input(Stream.PREDICTIONS),
        Input(Stream.EXECUTIONS, lag=1),
    )
    outputs: ClassVar[tuple[Stream, ...]] = (Stream.SIGNALS,)

    def __init__(self, settings: BlenderSettings) -> None:
        super().__init__(settings)
        self.settings: BlenderSettings = settings
        self.core = Blender(
            settings.blender,
            settings.interval,
            settings.horizons,
            settings.session_minutes,
            market=settings.market,
        )

    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        if isinstance(message, Bar):
            self.core.on_bar(message)
        elif isinstance(message, Predictions):
            self.core.add_predictions(message)
        elif isinstance(message, Execution):
            if message.strategy_id == self.settings.strategy_id:
                self.core.on_execution(message)
        else:
            raise TypeError(f"blender cannot handle {type(message).__name__} on {stream.value}")

    def on_tick_end(self, event_time: Any, out: Outbox) -> None:
        for signal in self.core.end_tick():
            out.emit(Stream.SIGNALS, signal)

    def snapshot(self) -> bytes:
        return self.core.snapshot()

    def restore(self, data: bytes | None) -> None:
        self.core.restore(data)

    def status(self) -> dict[str, Any]:
        return {"method": self.settings.blender.method, **self.core.status()}

    def weights(self) -> dict[str, Any]:
        """Built from structures the core replaces whole at each tick's end (thread-safe read)."""
        return self.core.weights_view()

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/weights")
        def get_weights() -> dict[str, Any]:
            """Current ridge, bandit and final weights per horizon (and per symbol)."""
            return self.weights()

        return router
