"""The decoded messages of one run, grouped by stream; pure, so the in-process backtest can build
a report from the lists it already holds, without Redis."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ridgeline_shared.messages import (
    Bar,
    Execution,
    ExecutorCommand,
    Message,
    OrderRequest,
    RiskEvent,
    Signal,
    Watermark,
)


def _payload(
    stream: str, items: Iterable[Message], types: tuple[type[Message], ...]
) -> tuple[list[Message], bool]:
    """The non-watermark messages of a stream and whether it carried end of data."""
    kept: list[Message] = []
    ended = False
    for item in items:
        if isinstance(item, Watermark):
            ended = ended or item.end_of_data
        elif isinstance(item, types):
            kept.append(item)
        else:
            raise ValueError(f"{type(item).__name__} does not belong on the {stream} stream")
    return kept, ended


@dataclass(frozen=True, slots=True)
class RunData:
    """Messages in stream order (executions in stream order are the execution order).

    ``finished`` is True when the executions stream carried end of data: the last service of the
    pipeline processed every tick, so the report covers the whole run.
    """

    bars: tuple[Bar, ...] = ()
    signals: tuple[Signal, ...] = ()
    orders: tuple[OrderRequest, ...] = ()
    commands: tuple[ExecutorCommand, ...] = ()
    executions: tuple[Execution, ...] = ()
    risk_events: tuple[RiskEvent, ...] = ()
    finished: bool = False
    # Entries skipped because they did not decode (counted so a report never hides them).
    undecodable: int = 0

    @classmethod
    def from_messages(
        cls,
        *,
        bars: Iterable[Message] = (),
        signals: Iterable[Message] = (),
        orders: Iterable[Message] = (),
        executions: Iterable[Message] = (),
        risk_events: Iterable[Message] = (),
        finished: bool | None = None,
        undecodable: int = 0,
    ) -> RunData:
        """One iterable per stream, as the streams hold them: watermarks are skipped, and
        ``finished`` (when not given) is whether ``executions`` holds an end-of-data watermark.
        A message of a type foreign to its stream is a ValueError, never silently dropped."""
        bar_msgs, _ = _payload("bars", bars, (Bar,))
        signal_msgs, _ = _payload("signals", signals, (Signal,))
        order_msgs, _ = _payload("orders", orders, (OrderRequest, ExecutorCommand))
        execution_msgs, ended = _payload("executions", executions, (Execution,))
        risk_msgs, _ = _payload("risk_events", risk_events, (RiskEvent,))
        return cls(
            bars=tuple(m for m in bar_msgs if isinstance(m, Bar)),
            signals=tuple(m for m in signal_msgs if isinstance(m, Signal)),
            orders=tuple(m for m in order_msgs if isinstance(m, OrderRequest)),
            commands=tuple(m for m in order_msgs if isinstance(m, ExecutorCommand)),
            executions=tuple(m for m in execution_msgs if isinstance(m, Execution)),
            risk_events=tuple(m for m in risk_msgs if isinstance(m, RiskEvent)),
            finished=ended if finished is None else finished,
            undecodable=undecodable,
        )
