"""The broker protocol: what the executor needs from any venue, and the venue's reports.

Every venue is addressed by *our* client order id: it is how a submission whose outcome is
unknown is looked up, and why a replayed request cannot become a second order (venues refuse a
second order with a client id they know: :class:`DuplicateClientOrderIdError`).

Reports use the executor's vocabulary (:class:`~ridgeline_shared.messages.OrderStatus`, Decimal
money); each adapter's parsing maps its venue's statuses onto it. A venue that reports individual
fills lists them in ``BrokerOrder.fills`` with its trade ids; one that reports only cumulative
figures leaves it empty, and reconciliation synthesises the missing fills with deterministic ids.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ridgeline_shared.accounting import ZERO
from ridgeline_shared.messages import Bar
from ridgeline_shared.messages.enums import OrderSide, OrderStatus, OrderType, TimeInForce


class BrokerError(RuntimeError):
    """The venue answered with an error that is not a rejection of the order."""


class BrokerUnavailableError(BrokerError):
    """The venue could not be reached or did not answer in time: the outcome is unknown, and the
    executor must reconcile (ask the venue) before it trusts its own view again."""


class DuplicateClientOrderIdError(BrokerError):
    """The venue already holds an order with this client order id."""


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """What is sent. ``event_time`` is the bar that caused the order (a simulator fills it only
    on a later bar)."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    time_in_force: TimeInForce
    event_time: datetime
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BrokerFill:
    trade_id: str
    quantity: Decimal
    price: Decimal
    commission: Decimal = ZERO
    # The bar (event time) the fill happened on, when the venue is driven by bars.
    bar_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    status: OrderStatus
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    fills: tuple[BrokerFill, ...] = ()
    limit_price: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class VenueView:
    """The venue's orders right after one of our own calls changed them, as that call saw them:
    every open order, and each order the call changed (open or not). A poll answered from it is
    a poll at that instant, with no request to the venue."""

    open: dict[str, BrokerOrder]
    changed: dict[str, BrokerOrder]


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    # Signed: long > 0, short < 0.
    quantity: Decimal
    avg_entry_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    cash: Decimal
    equity: Decimal | None = None
    buying_power: Decimal | None = None
    currency: str = ""


class Broker(ABC):
    """A venue. Methods raise :class:`BrokerUnavailableError` when the outcome is unknown."""

    venue: str

    @abstractmethod
    def submit(self, spec: OrderSpec) -> BrokerOrder:
        """Send a new order; a venue rejection is a report with status REJECTED, not an error."""

    @abstractmethod
    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        """Ask the venue to cancel; the report after the request (None: unknown to the venue)."""

    @abstractmethod
    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The venue's view of one order by our client id (None: the venue never received it)."""

    @abstractmethod
    def open_orders(self) -> list[BrokerOrder]:
        """Every order still working at the venue."""

    @abstractmethod
    def positions(self) -> list[BrokerPosition]:
        """Every non-zero position."""

    @abstractmethod
    def account(self) -> BrokerAccount: ...

    def on_bar(self, bar: Bar) -> None:
        """Market data for venues that simulate matching (the paper venue); real venues ignore it."""

    # -- batches: one call per tick; a venue that can do better than one call each overrides them
    def on_bars(self, bars: Sequence[Bar]) -> None:
        """A tick's bars, in order: the same as :meth:`on_bar` for each."""
        for bar in bars:
            self.on_bar(bar)

    def on_bars_deferred(self, bars: Sequence[Bar]) -> bool:
        """:meth:`on_bars`, which the venue may defer to carry out in one step with the next
        :meth:`submit_checked` (before it takes the orders, exactly as if done now), or else
        before any other call answers. True if deferred: its results are not to be asked
        before then. A venue (or a wrapper) that does not override it matches at once."""
        self.on_bars(bars)
        return False

    def settle(self) -> None:
        """Carry out deferred work now (see :meth:`on_bars_deferred`)."""

    def take_view(self) -> VenueView | None:
        """What the last call that changed the venue saw of its orders, handed out once (None:
        there is none; ask the venue)."""
        return None

    def get_orders(self, client_order_ids: Sequence[str]) -> dict[str, BrokerOrder | None]:
        """:meth:`get_order` for each (None: never received). Raises on the first failure."""
        return {cid: self.get_order(cid) for cid in client_order_ids}

    def submit_many(self, specs: Sequence[OrderSpec]) -> list[BrokerOrder | None]:
        """Send new orders, in order; the venue's report of each. A client id the venue already
        holds is not sent again: its report is the venue's view of that order (None: the venue
        could not say). A BrokerUnavailableError leaves the outcome of every order of the batch
        unknown."""
        reports: list[BrokerOrder | None] = []
        for spec in specs:
            try:
                reports.append(self.submit(spec))
            except DuplicateClientOrderIdError:
                reports.append(self.get_order(spec.client_order_id))
        return reports

    # A venue whose batch looks its client ids up in the same atomic step that takes the new
    # ones (``submit_checked``) needs no lookup before the write-ahead.
    checks_client_ids: bool = False

    def submit_checked(self, specs: Sequence[OrderSpec]) -> list[tuple[BrokerOrder, bool]]:
        """Send new orders in one atomic step that first looks up their client ids: each
        order's report and whether the venue already held it (then it was not sent again).
        Only where ``checks_client_ids``."""
        raise NotImplementedError(f"{type(self).__name__} does not check client ids as it submits")

    def close(self) -> None:
        """Release connections."""
