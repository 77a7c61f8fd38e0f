"""The portfolio's running figures (equity, effective quantities, the book, its gross exposure)
against the from-scratch expressions they replaced, digit for digit, over seeded random sequences
of marks, orders, fills, cancels, redeliveries and snapshot round trips at many symbols."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest

from ridgeline_risk.gross import GrossBatch
from ridgeline_risk.portfolio import Portfolio, exposures
from ridgeline_risk.pretrade import book_gross
from ridgeline_risk.totals import EXACT, ExactSum, with_exponent
from ridgeline_shared.accounting import ZERO
from ridgeline_shared.messages import Execution, Fill, OrderSide, OrderStatus, OrderType

pytestmark = pytest.mark.unit

T0 = datetime(2024, 1, 1, tzinfo=UTC)
D = Decimal


# -- the expressions the portfolio used to evaluate on every order ---------------------------
def scratch_working(p: Portfolio, symbol: str) -> Decimal:
    return sum((o.remaining for o in p.working.values() if o.symbol == symbol), ZERO)


def scratch_effective(p: Portfolio, symbol: str) -> Decimal:
    return p.ledger.quantity(symbol) + scratch_working(p, symbol)


def scratch_symbols(p: Portfolio) -> list[str]:
    held = {s for s, pos in p.ledger.positions.items() if pos.quantity}
    held.update(o.symbol for o in p.working.values() if o.remaining)
    return sorted(held)


def scratch_book(p: Portfolio) -> dict[str, Decimal]:
    return {s: scratch_effective(p, s) for s in scratch_symbols(p)}


def same(a: Decimal, b: Decimal) -> None:
    """Equal as written: value, digits and exponent."""
    assert str(a) == str(b)


# -- a random market -------------------------------------------------------------------------
@dataclass
class Order:
    symbol: str
    side: OrderSide
    quantity: Decimal
    filled: Decimal = ZERO
    sequence: int = 0
    fills: int = 0


class Driver:
    """Random marks, orders and executions of a venue that fills in parts."""

    def __init__(self, seed: int, symbols: int, *, wide: bool) -> None:
        self.rng = random.Random(seed)
        self.wide = wide
        self.symbols = [f"S{i:03d}" for i in range(symbols)]
        cash = D("1E+45") if wide else D("1000000")
        self.portfolio = Portfolio(cash, "ridgeline", 100_000)
        self.orders: dict[str, Order] = {}
        self.sent: list[Execution] = []
        self.count = 0

    def price(self) -> Decimal:
        rng = self.rng
        if self.wide and rng.random() < 0.5:
            return D(repr(rng.uniform(0.001, 5000.0)))  # 15-17 significant digits
        return D(repr(round(rng.uniform(0.01, 500.0), rng.randint(0, 8)))) or D("0.5")

    def quantity(self) -> Decimal:
        places = 12 if self.wide else self.rng.choice((0, 2, 4))
        raw = D(repr(round(self.rng.uniform(0.5, 3000.0), places)))
        return raw if raw > 0 else D(1)

    def step(self) -> None:
        rng, p = self.rng, self.portfolio
        draw = rng.random()
        if draw < 0.35:
            p.mark(rng.choice(self.symbols), self.price())
        elif draw < 0.55:
            self.count += 1
            coid = f"RL-{self.count}"
            side = rng.choice((OrderSide.BUY, OrderSide.SELL))
            order = self.orders[coid] = Order(rng.choice(self.symbols), side, self.quantity())
            sign = 1 if side is OrderSide.BUY else -1
            p.order_sent(coid, order.symbol, sign * order.quantity, T0 + timedelta(minutes=self.count))
        elif draw < 0.9 and self.orders:
            self.execute(rng.choice(sorted(self.orders)))
        elif draw < 0.95 and self.sent:
            p.apply_execution(rng.choice(self.sent))  # a redelivery
        elif draw < 0.97:
            self.count += 1  # an order the venue knows and risk does not
            coid = f"EXT-{self.count}"
            self.orders[coid] = Order(rng.choice(self.symbols), OrderSide.BUY, self.quantity())
            self.execute(coid)
        else:
            copy = Portfolio(p.ledger.cash, "ridgeline", 100_000)
            copy.load(p.to_dict())
            assert copy.to_dict() == p.to_dict()
            self.portfolio = copy

    def execute(self, coid: str) -> None:
        rng, order = self.rng, self.orders[coid]
        left = order.quantity - order.filled
        draw = rng.random()
        fill = None
        if draw < 0.15:
            status = rng.choice((OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED))
        elif draw < 0.3:
            status = OrderStatus.ACCEPTED
        else:
            part = left if draw < 0.65 else (left * D(rng.randint(1, 9)) / 10).quantize(D("1e-12"))
            part = part.normalize() if part > 0 else left
            order.filled += part
            order.fills += 1
            price = D(repr(round(rng.uniform(0.01, 500.0), rng.randint(0, 12))))
            fill = Fill(
                trade_id=f"T-{coid}-{order.fills}",
                quantity=part,
                price=price if price > 0 else D(1),
                commission=D(repr(round(rng.uniform(0, 0.1), 6))),
            )
            status = OrderStatus.FILLED if order.filled == order.quantity else OrderStatus.PARTIALLY_FILLED
        order.sequence += 1
        execution = Execution(
            event_time=T0,
            trace_id="t",
            client_order_id=coid,
            strategy_id="ridgeline",
            symbol=order.symbol,
            side=order.side,
            order_type=OrderType.MARKET,
            status=status,
            quantity=order.quantity,
            filled_quantity=order.filled,
            fill=fill,
            order_event_time=T0,
            sequence=order.sequence,
        )
        self.sent.append(execution)
        self.portfolio.apply_execution(execution)
        if status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
            del self.orders[coid]


def check(p: Portfolio, symbols: list[str], rng: random.Random) -> None:
    same(p.equity, p.ledger.equity)
    book = scratch_book(p)
    assert p.symbols() == list(book)
    assert list(p.effective_book().items()) == list(book.items())
    for symbol in symbols:
        same(p.effective_quantity(symbol), scratch_effective(p, symbol))
        same(p.working_quantity(symbol), scratch_working(p, symbol))
        assert p.has_working(symbol) == any(o.symbol == symbol for o in p.working.values())
    for symbol in rng.sample(symbols, 5):
        expected = book_gross(book, p.last_price)(symbol)
        fast = p.gross_excluding(symbol, 28)
        if fast is not None:
            assert fast == expected
        assert GrossBatch(p).excluding(symbol) == expected
    copy = p.ledger_copy()
    assert copy.to_dict() == p.ledger.to_dict()
    same(copy.unrealized_pnl, p.ledger.unrealized_pnl)
    assert exposures(copy) == p.exposures()


@pytest.mark.parametrize(("seed", "wide"), [(1, False), (2, False), (3, True)])
def test_running_figures_equal_the_from_scratch_ones(seed: int, wide: bool) -> None:
    driver = Driver(seed, symbols=60, wide=wide)
    checker = random.Random(seed)
    fallbacks = 0
    for n in range(4000):
        driver.step()
        if n % 10 == 0:
            check(driver.portfolio, driver.symbols, checker)
            fallbacks += driver.portfolio.gross_excluding(driver.symbols[0], 28) is None
    assert driver.portfolio.ledger.fills > 500
    # The wide case reaches the sums that would round, where the fall-back takes over.
    assert (fallbacks > 0) == wide


def test_gross_batch_reads_the_book_as_the_checks_summed_it() -> None:
    """Orders of one batch change the book as ``book[s] = book.get(s, 0) + quantity`` did."""
    rng = random.Random(5)
    for wide in (False, True):
        driver = Driver(5, symbols=40, wide=wide)
        for _ in range(1500):
            driver.step()
        p = driver.portfolio
        batch, book = GrossBatch(p), scratch_book(p)
        for k in range(30):
            symbol = rng.choice(driver.symbols)
            assert batch.excluding(symbol) == book_gross(book, p.last_price)(symbol)
            quantity = driver.quantity() * rng.choice((1, -1))
            batch.order_sent(f"B-{k}", symbol, quantity, T0)
            book[symbol] = book.get(symbol, D(0)) + quantity
        for symbol in driver.symbols:
            assert batch.excluding(symbol) == book_gross(book, p.last_price)(symbol)


def test_exact_sum_reads_back_as_the_sum() -> None:
    rng = random.Random(9)
    total = ExactSum()
    terms: dict[str, Decimal] = {}
    fits = 0
    for _ in range(3000):
        key = f"k{rng.randint(0, 40)}"
        if rng.random() < 0.2:
            total.discard(key)
            terms.pop(key, None)
        else:
            if rng.random() < 0.01:  # wider than the default context: kept exact all the same
                value = D(rng.randint(-(10**40), 10**40)).scaleb(-rng.randint(0, 30))
            else:
                value = D(repr(round(rng.uniform(-1e6, 1e6), rng.randint(0, 9))))
            total.set(key, value)
            terms[key] = value
        with localcontext(EXACT):
            scratch = sum(terms.values(), ZERO)
            assert total.total == scratch and total.abs_total == sum((abs(v) for v in terms.values()), ZERO)
        assert total.min_exponent() == min([0, *(v.as_tuple().exponent for v in terms.values())])
        # Where it says the 28-digit left-to-right sum rounds at no step, that sum is the exact
        # total, written with the smallest exponent.
        if total.reads_as_sum(28):
            fits += 1
            same(with_exponent(total.total, total.min_exponent()), sum(terms.values(), ZERO))
    assert 100 < fits < 2900
    wide = ExactSum()
    wide.set("a", D("1E+20"))
    wide.set("b", D("0.00000001"))
    assert wide.reads_as_sum(29) and not wide.reads_as_sum(28)
