"""Fault runs on the real compose stack: kill -9 of each service and a Redis restart in the middle
of a replay leave the same order and fill streams as an uninterrupted run; thousands of hostile
entries all end in the dead-letter stream and no service stops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import DeadLetter, OrderRequest
from tests.support.waiting import wait_for
from tests.system.stack import SERVICES, ComposeStack, fill_stream, order_stream

pytestmark = pytest.mark.system
MAX_BARS = 12_000  # long enough that orders flow well before the end (~2,400 ticks)
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "fault_runs.json"


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    stack = ComposeStack.create("ridgeline-faults", max_bars=MAX_BARS)
    stack.down()
    try:
        yield stack
    finally:
        stack.down()


Streams = tuple[list[tuple[str, ...]], list[tuple[str, ...]]]


def replay(stack: ComposeStack, fault: str | None = None) -> Streams:
    """One replay from a clean Redis; with ``fault``, that service is hit once orders flow."""
    stack.down()
    stack.up()
    if fault is not None:
        wait_for(lambda: len(order_stream(stack)) >= 3, "orders to flow", limit=600, every=0.2)
        assert not stack.finished(), "the replay ended before the fault could be injected"
        if fault == "redis":
            stack.restart("redis")
        else:
            stack.kill(fault)
            stack.start(fault)
    wait_for(stack.finished, "the executor's end of data", limit=600, every=0.5)
    return order_stream(stack), fill_stream(stack)


@pytest.fixture(scope="module")
def baseline(stack: ComposeStack) -> Streams:
    orders, fills = replay(stack)
    assert orders, "the baseline replay placed no orders: nothing to compare"
    assert fills, "the baseline replay had no fills"
    return orders, fills


_outcomes: dict[str, dict[str, object]] = {}


@pytest.mark.parametrize("fault", [*SERVICES, "redis"])
def test_fault_leaves_the_same_orders_and_fills(stack: ComposeStack, baseline: Streams, fault: str) -> None:
    orders, fills = replay(stack, fault)
    _outcomes[fault] = {
        "orders": len(orders),
        "fills": len(fills),
        "orders_equal": orders == baseline[0],
        "fills_equal": fills == baseline[1],
        "baseline_orders": len(baseline[0]),
        "baseline_fills": len(baseline[1]),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(_outcomes, indent=2, sort_keys=True) + "\n")
    assert orders == baseline[0]
    assert fills == baseline[1]


def _hostile_entries(valid: OrderRequest | None) -> list[dict[bytes, bytes]]:
    """Wrong types, missing fields, NaN, huge values, wrong schema version, garbage."""
    base = json.loads(valid.model_dump_json()) if valid else {"type": "order_request"}
    variants: list[dict[str, object]] = [
        {**base, "quantity": "lots"},
        {**base, "quantity": "NaN"},
        {**base, "quantity": "1e400"},
        {**base, "schema_version": 99},
        {k: v for k, v in base.items() if k != "symbol"},
        {**base, "event_time": "yesterday"},
        {**base, "type": "nonsense"},
        {**base, "reference_price": -1},
    ]
    entries = [{codec.FIELD: json.dumps(v).encode()} for v in variants]
    entries += [{codec.FIELD: b"\xff\xfe garbage"}, {b"wrong": b"field"}, {codec.FIELD: b"{" * 5000}]
    return entries


def test_hostile_entries_all_dead_letter_and_services_survive(stack: ComposeStack) -> None:
    stack.down()
    stack.up()
    wait_for(stack.finished, "the executor's end of data", limit=600, every=0.5)
    client, keys = stack.redis(), Keys()
    valid = next((m for _, m in stack.read(Stream.ORDERS) if isinstance(m, OrderRequest)), None)
    consumed = {  # stream -> the groups reading it
        Stream.BARS: 4, Stream.PREDICTIONS: 1, Stream.SIGNALS: 1, Stream.ORDERS: 1, Stream.EXECUTIONS: 2,
    }  # fmt: skip
    hostile = _hostile_entries(valid)
    pipe = client.pipeline(transaction=False)
    for stream in consumed:
        for _ in range(60):
            for fields in hostile:
                pipe.xadd(keys.stream(stream), fields)  # type: ignore[arg-type]
    ids = iter(pipe.execute())
    # Entry ids repeat across streams: an entry is (stream key, id).
    published = {(keys.stream(s), next(ids).decode()): s for s in consumed for _ in range(60 * len(hostile))}
    expected = sum(consumed[s] for s in published.values())
    assert expected > 1000

    def letters() -> list[DeadLetter]:
        raw: Any = client.xrange(keys.stream(Stream.DEAD_LETTERS))
        return [m for _, f in raw if isinstance(m := codec.decode(Stream.DEAD_LETTERS, f), DeadLetter)]

    wait_for(lambda: len(letters()) >= expected, f"{expected} dead letters", limit=300, every=0.5)
    seen = {(d.stream, d.entry_id, d.group) for d in letters()}
    assert len({key for key in seen if key[:2] in published}) == expected
    assert stack.health() == dict.fromkeys(SERVICES, 200)
