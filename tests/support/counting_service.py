"""A minimal stateful service used to test the bus and the runtime on a real Redis.

It counts the bars of each symbol and emits, per bar, a Predictions message whose single entry's
``raw`` is that running count: any lost, duplicated or mis-restored state shows in the outputs.
Run as a script it serves like a real service (used by the kill -9 test).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import Any, ClassVar

from ridgeline_shared.config import ServiceSettings
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Message, ModelPrediction, Predictions
from ridgeline_shared.runtime.service import Input, Outbox, Service


class CountingService(Service):
    name: ClassVar[str] = "counter"
    inputs: ClassVar[tuple[Input, ...]] = (Input(Stream.BARS),)
    outputs: ClassVar[tuple[Stream, ...]] = (Stream.PREDICTIONS,)

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.counts: dict[str, int] = {}
        self.pending: list[Bar] = []
        self.slow_ms = float(os.environ.get("COUNTER_SLOW_MS", "0"))

    def on_message(self, stream: Stream, message: Message, out: Outbox) -> None:
        if not isinstance(message, Bar):
            raise TypeError(f"unexpected {type(message).__name__}")
        if message.volume == 13.0:
            raise ValueError("poison bar (volume 13)")
        self.counts[message.symbol] = self.counts.get(message.symbol, 0) + 1
        self.pending.append(message)
        if self.slow_ms:
            time.sleep(self.slow_ms / 1000)

    def on_tick_end(self, event_time: datetime | None, out: Outbox) -> None:
        for bar in sorted(self.pending, key=lambda b: b.symbol):
            entry = ModelPrediction(
                horizon="5m", family="count", model_version="1", raw=float(self.counts[bar.symbol]),
                zscore=None, ic=0, freshness=1, capacity=1, stability=1, confidence=0, score=0,
                warming_up=True,
            )  # fmt: skip
            out.emit(
                Stream.PREDICTIONS,
                Predictions(
                    event_time=bar.event_time, trace_id=bar.trace_id, trace=bar.trace,
                    symbol=bar.symbol, interval=bar.interval, close=bar.close, entries=[entry],
                ),
            )  # fmt: skip
        self.pending.clear()

    def snapshot(self) -> bytes:
        return json.dumps(self.counts, sort_keys=True).encode()

    def restore(self, data: bytes | None) -> None:
        self.counts = json.loads(data) if data else {}

    def status(self) -> dict[str, Any]:
        return {"counts": self.counts}


if __name__ == "__main__":
    from ridgeline_shared.runtime.main import run_service

    run_service(CountingService, ServiceSettings)
