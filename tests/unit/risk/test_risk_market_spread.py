"""Risk's spread gate reads the shared market section from its own bars, not the signal's spread."""

from __future__ import annotations

import pytest
from risk_kit import Replay, bars_of, make_service, orders, signal_for

from ridgeline_shared.config import MarketConfig

pytestmark = pytest.mark.unit


def first_order_tick(market: MarketConfig, signal_spread: float, warm_bars: int = 40) -> int | None:
    """Bars of LTCBTC with no signal for ``warm_bars``, then a BUY on every bar: the first tick
    with an order (None: the gate held every entry)."""
    service = make_service(market=market)
    replay = Replay(service)
    for i, bar in enumerate(bars_of("LTCBTC", 0, warm_bars + 5)):
        signals = [signal_for(bar, spread_bps=signal_spread)] if i >= warm_bars else []
        if orders(replay.step([bar], signals)):
            return i
    assert service.engine.spread_bps("LTCBTC") == market.spread_for("LTCBTC", service.engine.stats["LTCBTC"])
    return None


def test_the_signal_spread_is_not_the_gate() -> None:
    # The configured 5 bps passes the 12 bps gate although the signal reports 50.
    assert first_order_tick(MarketConfig(), signal_spread=50.0) == 40
    # A configured 20 bps for the symbol blocks entries although the signal reports 2.
    assert first_order_tick(MarketConfig(spread_bps={"LTCBTC": 20.0}), signal_spread=2.0) is None


def test_the_estimate_source_gates_on_abdi_ranaldo_from_risks_bars() -> None:
    estimate = MarketConfig(spread_source="estimate")
    # Before spread_min_bars terms exist the configured spread applies, so an early entry trades.
    assert first_order_tick(estimate, signal_spread=2.0, warm_bars=10) == 10
    # After 40 bars the estimate on LTCBTC's 5-minute bars is far above 12 bps: reduce-only.
    assert first_order_tick(estimate, signal_spread=2.0) is None
