"""Executor settings: nested environment overrides, venue choice, refusals that name the key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.enums import BaseURL

from ridgeline_executor.brokers.alpaca.broker import AlpacaBroker
from ridgeline_executor.brokers.alpaca.config import AlpacaConfig
from ridgeline_executor.config import ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_shared.config import ConfigError, load_settings
from ridgeline_shared.keys import Stream

pytestmark = pytest.mark.unit


def test_environment_overrides_the_paper_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_EXECUTOR__PAPER__COMMISSION_BPS", "2.5")
    monkeypatch.setenv("RIDGELINE_EXECUTOR__PAPER__TICK_SIZE", "0.01")
    monkeypatch.setenv("RIDGELINE_EXECUTOR__PAPER__INITIAL_CASH", "250000")
    settings = load_settings(ExecutorSettings)
    paper = settings.executor.paper
    assert paper.commission_bps == Decimal("2.5") and paper.tick("AAPL") == Decimal("0.01")
    assert paper.initial_cash == Decimal(250000)
    assert paper.impact_k3 == 1.0  # MATH.md default
    # The venue's spread is the shared market section's, set once for every service.
    assert settings.market.default_spread_bps == 5.0 and settings.market.spread_source == "configured"


def test_the_shared_market_section_reads_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_MARKET__SPREAD_SOURCE", "estimate")
    monkeypatch.setenv("RIDGELINE_MARKET__SPREAD_BPS", '{"ETHBTC": 3.5}')
    market = load_settings(ExecutorSettings).market
    assert market.spread_source == "estimate"
    assert market.spread_for("ETHBTC", None) == 3.5 and market.spread_for("LTCBTC", None) == 5.0
    monkeypatch.setenv("RIDGELINE_MARKET__DEFAULT_SPREAD_BPS", "-1")
    with pytest.raises(
        ConfigError, match=r"market\.default_spread_bps \[RIDGELINE_MARKET__DEFAULT_SPREAD_BPS\]"
    ):
        load_settings(ExecutorSettings)


def test_alpaca_needs_credentials_and_bad_values_name_their_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_EXECUTOR__BROKER", "alpaca")
    with pytest.raises(ConfigError, match=r"executor\.alpaca\.api_key"):
        load_settings(ExecutorSettings)
    monkeypatch.setenv("RIDGELINE_EXECUTOR__BROKER", "paper")
    monkeypatch.setenv("RIDGELINE_EXECUTOR__PAPER__TICK_SIZE", "-1")
    with pytest.raises(
        ConfigError, match=r"executor\.paper\.tick_size \[RIDGELINE_EXECUTOR__PAPER__TICK_SIZE\]"
    ):
        load_settings(ExecutorSettings)


@pytest.mark.parametrize(("paper", "url"), [(True, BaseURL.TRADING_PAPER), (False, BaseURL.TRADING_LIVE)])
def test_alpaca_endpoint_follows_the_paper_flag(paper: bool, url: BaseURL) -> None:
    broker = AlpacaBroker(AlpacaConfig(api_key="k", secret_key="s", paper=paper))
    assert broker.client._base_url == url
    override = AlpacaBroker(AlpacaConfig(api_key="k", secret_key="s", paper=paper, url="http://127.0.0.1:9"))
    assert override.client._base_url == "http://127.0.0.1:9"


def test_service_contract() -> None:
    assert ExecutorService.name == "executor"
    assert [(i.stream, i.lag) for i in ExecutorService.inputs] == [(Stream.BARS, 0), (Stream.ORDERS, 0)]
    assert ExecutorService.outputs == (Stream.EXECUTIONS,)
    assert ExecutorService.snapshot_every_tick is True
    assert set(ExecutorService.commands) == {"cancel_all", "flatten", "reconcile"}
    service = ExecutorService(ExecutorSettings())
    assert service.ready() == (False, "not started")
