"""A tick handled in batches (the venue matches its bars in one unit of work, its new orders
are looked up, written ahead and sent together) gives exactly what one message at a time gives;
and the shortcuts that make a tick cheap (executions built without re-validation, the book's
working and prunable orders found without looking at every order, the venue's view of its
orders) change nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ridgeline_executor.book import Book
from ridgeline_executor.brokers.base import OrderSpec, VenueView
from ridgeline_executor.brokers.paper.broker import PaperBroker
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_executor.brokers.paper.state import MemoryPaperState
from ridgeline_executor.orders.order import Order
from ridgeline_executor.service import ExecutorService
from ridgeline_shared.messages import Bar, Execution
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tests.unit.executor.executor_kit import (
    MemoryDriver,
    OneByOne,
    aligned_bars,
    comparable,
    limit_at,
    play,
    scripted_session,
    session_settings,
)

pytestmark = pytest.mark.unit
S = OrderStatus
D = Decimal


def test_batched_ticks_equal_one_message_at_a_time() -> None:
    session = scripted_session()
    batched, one_by_one = ExecutorService(session_settings()), OneByOne(session_settings())
    out = play(session, MemoryDriver(batched).tick, MemoryDriver(batched).command)
    reference = play(session, MemoryDriver(one_by_one).tick, MemoryDriver(one_by_one).command)
    assert len(out) > 1000 and comparable(out) == comparable(reference)
    assert batched.snapshot() == one_by_one.snapshot()
    assert batched.engine is not None and one_by_one.engine is not None
    ours, theirs = batched.engine.broker, one_by_one.engine.broker
    assert ours.account() == theirs.account() and ours.positions() == theirs.positions()
    assert ours.open_orders() == theirs.open_orders()
    assert batched.store is not None and one_by_one.store is not None
    for cid in sorted(session.requests):
        assert batched.store.events(cid) == one_by_one.store.events(cid)
        assert ours.get_order(cid) == theirs.get_order(cid)
    assert batched.store.recent_fills(1000) == one_by_one.store.recent_fills(1000)
    assert batched.store.recent_reports(100) == one_by_one.store.recent_reports(100)


def test_executions_built_without_validation_equal_validated_ones() -> None:
    service = ExecutorService(session_settings())
    driver = MemoryDriver(service)
    out = play(scripted_session(), driver.tick, driver.command)
    assert any(e.fill is not None for e in out) and any(e.avg_fill_price is not None for e in out)
    for execution in out:
        # What the executor passed, validated as the constructor used to validate it.
        given = {name: getattr(execution, name) for name in execution.model_fields_set}
        if execution.fill is not None:
            given["fill"] = execution.fill.model_dump()
        validated = Execution(**given)
        assert validated == execution
        assert validated.model_dump_json() == execution.model_dump_json()
        assert validated.model_fields_set == execution.model_fields_set
        if execution.fill is not None:
            assert validated.fill is not None
            assert validated.fill.model_fields_set == execution.fill.model_fields_set


def spec(bar: Bar, cid: str, side: OrderSide, qty: str, kind: OrderType = OrderType.MARKET) -> OrderSpec:
    limit = limit_at(bar, "0.999" if side is OrderSide.BUY else "1.001") if kind is OrderType.LIMIT else None
    return OrderSpec(cid, bar.symbol, side, kind, D(qty), TimeInForce.GTC, bar.event_time, limit)


def test_the_venue_matches_a_ticks_bars_as_it_matches_them_one_by_one() -> None:
    config = PaperBrokerConfig(max_participation=D("0.05"))
    batched = PaperBroker(MemoryPaperState(), config=config)
    single = PaperBroker(MemoryPaperState(), config=config)
    for i, tick in enumerate(aligned_bars(80)):
        batched.on_bars(tick + tick[:1])  # a bar twice in a tick: matched once
        for bar in tick:
            single.on_bar(bar)
        specs = [spec(bar, f"RL-{i}-{bar.symbol}", OrderSide.BUY if i % 3 else OrderSide.SELL, "30",
                      OrderType.LIMIT if i % 2 else OrderType.MARKET) for bar in tick]  # fmt: skip
        assert batched.submit_many(specs) == [single.submit(s) for s in specs]
        assert batched.open_orders() == single.open_orders()
        assert batched.account() == single.account() and batched.positions() == single.positions()
    assert batched.account().cash != PaperBrokerConfig().initial_cash
    for symbol in ("ETHBTC", "LTCBTC"):
        assert batched.market_costs(symbol) == single.market_costs(symbol)


def test_bars_deferred_to_the_orders_unit_of_work_match_as_if_matched_first() -> None:
    """A tick's bars deferred to the unit of work that takes its new orders (matched first,
    then the orders taken, the buying power check seeing the fills): the same reports, books and
    statistics as matching at once; the view joins what both changed; bars deferred with no
    orders after them are matched before any other answer."""
    config = PaperBrokerConfig(initial_cash=D(60), max_participation=D("0.05"))
    deferring = PaperBroker(MemoryPaperState(), config=config)
    at_once = PaperBroker(MemoryPaperState(), config=config)
    statuses: set[OrderStatus] = set()
    known = 0
    for i, tick in enumerate(aligned_bars(80)):
        assert deferring.on_bars_deferred(tick)
        at_once.on_bars(tick)
        if i % 7 == 3:
            assert deferring.take_view() == at_once.take_view()  # no orders: matched now
            continue
        specs = [spec(bar, f"RL-{i}-{bar.symbol}", OrderSide.BUY if i % 3 else OrderSide.SELL, "30",
                      OrderType.LIMIT if i % 2 else OrderType.MARKET) for bar in tick]  # fmt: skip
        if i % 5 == 0 and i:
            specs.append(spec(tick[0], f"RL-{i - 5}-{tick[0].symbol}", OrderSide.BUY, "30"))  # known
        matched = at_once.take_view()
        expected = at_once.submit_checked(specs)
        assert deferring.submit_checked(specs) == expected
        view, taken = deferring.take_view(), at_once.take_view()
        assert matched is not None and taken is not None and view is not None
        assert view == VenueView(taken.open, {**matched.changed, **taken.changed})
        assert deferring.account() == at_once.account() and deferring.positions() == at_once.positions()
        statuses.update(report.status for report, _ in expected)
        known += sum(held for _, held in expected)
    assert S.REJECTED in statuses and S.ACCEPTED in statuses and known > 0  # buying power was checked
    for symbol in ("ETHBTC", "LTCBTC"):
        assert deferring.market_costs(symbol) == at_once.market_costs(symbol)


def test_a_view_is_what_a_read_would_have_seen_and_is_handed_out_once() -> None:
    paper = PaperBroker(MemoryPaperState(), config=PaperBrokerConfig())
    ticks = aligned_bars(3)
    paper.on_bars(ticks[0])
    assert paper.take_view() is not None and paper.take_view() is None
    reports = paper.submit_many([spec(b, f"RL-{b.symbol}", OrderSide.BUY, "1") for b in ticks[0]])
    view = paper.take_view()
    assert view is not None and list(view.changed.values()) == reports
    assert list(view.open.values()) == paper.open_orders()
    paper.on_bars(ticks[1])  # fills both
    view = paper.take_view()
    assert view is not None and view.open == {}
    assert {cid: r.status for cid, r in view.changed.items()} == {
        r.client_order_id: S.FILLED for r in reports
    }
    assert view.changed == {cid: paper.get_order(cid) for cid in view.changed}
    paper.on_bars(ticks[2])
    paper.positions()  # any other call drops the view
    assert paper.take_view() is None


def _reference_prune(orders: dict[str, Order], retain: int) -> None:
    """The definition: the oldest done orders (closed, published, logged) beyond ``retain``."""
    done = [c for c, o in orders.items() if o.terminal and o.published == len(o.events) == o.logged]
    for cid in done[: max(0, len(done) - retain)]:
        del orders[cid]


def test_prune_keeps_exactly_what_a_scan_of_every_order_keeps() -> None:
    rng = random.Random(5)
    t = datetime(2024, 1, 1, tzinfo=UTC)
    book, reference = Book(), {}
    for step in range(400):
        for _ in range(rng.randint(0, 3)):
            cid = f"RL-{step}-{rng.random():.6f}"
            order = Order(cid, "s", "ETHBTC", OrderSide.BUY, OrderType.MARKET, D(1), TimeInForce.GTC,
                          t + timedelta(minutes=step), "trace")  # fmt: skip
            order.transition(S.SUBMITTED)
            book.add(order)
            reference[cid] = order
        for order in list(reference.values()):
            roll = rng.random()
            if order.working and roll < 0.3:
                order.transition(rng.choice([S.CANCELED, S.EXPIRED]))
            elif roll < 0.6:
                order.published = len(order.events)
            elif roll < 0.8:
                order.logged = len(order.events)
        retain = rng.choice([0, 3, 20])
        book.prune(retain)
        _reference_prune(reference, retain)
        assert list(book.orders) == list(reference)
        assert book.working() == [reference[c] for c in sorted(reference) if reference[c].working]
