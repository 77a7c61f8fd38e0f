"""The services wired in one process without Redis: the fast research backtest.

Each service gets the same :class:`TickMerger` and :func:`run_tick` as under the Redis worker;
only the transport differs (in-memory lists instead of streams), so for the same input the order
stream is the same as the distributed pipeline's. The parity test holds it to that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import DeadLetter, Message
from ridgeline_shared.runtime.merge import LateEntryError, TickMerger
from ridgeline_shared.runtime.service import Outbox, Service
from ridgeline_shared.runtime.ticks import Failure, run_tick


@dataclass
class _Node:
    service: Service
    merger: TickMerger | None
    failures: list[Failure] = field(default_factory=list)


class InProcessPipeline:
    """Drive a set of services to quiescence; ``streams`` holds every message published."""

    def __init__(self, services: Sequence[Service], max_attempts: int = 3) -> None:
        self.nodes = [_Node(s, TickMerger(s.inputs) if s.inputs else None) for s in services]
        self.max_attempts = max_attempts
        self.streams: dict[Stream, list[Message]] = defaultdict(list)
        self._consumers: dict[Stream, list[_Node]] = defaultdict(list)
        for node in self.nodes:
            for spec in node.service.inputs:
                self._consumers[spec.stream].append(node)

    def _publish(self, out: Outbox) -> None:
        for stream, message in out.messages:
            log = self.streams[stream]
            log.append(message)
            entry_id = f"{len(log)}-0"
            for node in self._consumers.get(stream, ()):
                assert node.merger is not None
                try:
                    node.merger.add(stream, entry_id, message)
                except LateEntryError as exc:
                    node.failures.append(Failure(stream, entry_id, {}, str(exc), 1))

    def _drain(self, node: _Node) -> bool:
        if node.merger is None:
            return False
        progressed = False
        while (tick := node.merger.next_tick()) is not None:
            out = Outbox()
            node.failures.extend(run_tick(node.service, tick, out, self.max_attempts, node.merger.last_tick))
            self._publish(out)
            progressed = True
        return progressed

    def run(self) -> dict[Stream, list[Message]]:
        """Poll the sources one tick at a time, letting every consumer catch up in between."""
        for node in self.nodes:
            node.service.restore(None)
            node.service.on_start(None)
        sources = [n for n in self.nodes if n.merger is None]
        consumers = [n for n in self.nodes if n.merger is not None]
        while True:
            while True:
                drained = [self._drain(node) for node in consumers]  # all of them, every round
                if not any(drained):
                    break
            produced = False
            for node in sources:
                out = Outbox()
                produced = node.service.poll(out) or produced
                self._publish(out)
            if not produced and not any(self._drain(node) for node in consumers):
                return self.streams

    def dead_letters(self) -> list[DeadLetter]:
        """Failures in the same shape the Redis worker writes to the dead-letter stream."""
        from ridgeline_shared.clock import wall_now

        return [
            DeadLetter(
                event_time=wall_now(),
                trace_id=f"dead@{f.entry_id}",
                stream=f.stream.value,
                entry_id=f.entry_id,
                group=node.service.name,
                consumer="inprocess",
                attempts=f.attempts,
                error=f.error,
                fields={},
            )
            for node in self.nodes
            for f in node.failures
        ]
