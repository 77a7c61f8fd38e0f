"""MarketConfig: the one definition of spread, volatility and ADV every service reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ridgeline_shared.config import ConfigError, MarketConfig, ServiceSettings, load_settings
from ridgeline_shared.market import MarketStats
from tests.support.bars import real_bars

pytestmark = pytest.mark.unit


def fed(symbol: str, count: int, market: MarketConfig) -> MarketStats:
    stats = market.new_stats(288)
    for bar in real_bars(symbol, count):
        stats.update(bar.high, bar.low, bar.close, bar.volume)
    return stats


def test_configured_spread_ignores_the_bars() -> None:
    market = MarketConfig(default_spread_bps=4.0, spread_bps={"ETHBTC": 2.5})
    stats = fed("ETHBTC", 120, market)
    assert market.spread_for("ETHBTC", stats) == 2.5
    assert market.spread_for("LTCBTC", fed("LTCBTC", 120, market)) == 4.0
    assert market.spread_for("LTCBTC", None) == 4.0


def test_estimate_is_the_configured_spread_until_min_bars_then_abdi_ranaldo() -> None:
    market = MarketConfig(spread_source="estimate", spread_bps={"LTCBTC": 3.0}, spread_min_bars=30)
    # 30 bars give 29 spread terms (each needs the next bar's mid): still the configured value.
    assert market.spread_for("LTCBTC", fed("LTCBTC", 30, market)) == 3.0
    stats = fed("LTCBTC", 31, market)
    estimate = market.spread_for("LTCBTC", stats)
    assert estimate == stats.spread_bps(999.0, 30)
    # The bias the default avoids: several times a real quoted spread on these 5-minute bars.
    assert estimate > 15.0


def test_sigma_needs_sigma_min_bars_returns() -> None:
    market = MarketConfig(sigma_min_bars=25)
    assert market.sigma_bps(None) is None
    assert market.sigma_bps(fed("ETHBTC", 25, market)) is None  # 24 returns
    stats = fed("ETHBTC", 26, market)
    sigma = market.sigma_bps(stats)
    assert sigma is not None and sigma == stats.sigma_bps(25)


def test_new_stats_windows_and_adv_of_one_session() -> None:
    market = MarketConfig(vol_window_bars=50, spread_window_bars=40)
    windows = market.new_stats(96).to_dict()["windows"]
    assert windows == [50, 40, 96]  # ADV over one session of bars by default
    assert MarketConfig(adv_window_bars=12).new_stats(96).to_dict()["windows"][2] == 12
    # ADV = mean bar volume x the window's bars.
    stats = fed("ETHBTC", 10, MarketConfig(adv_window_bars=288))
    volumes = [b.volume for b in real_bars("ETHBTC", 10)]
    assert stats.adv_shares() == pytest.approx(sum(volumes) / 10 * 288)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"spread_min_bars": 300}, "spread_min_bars 300 exceeds spread_window_bars 288"),
        ({"sigma_min_bars": 10, "vol_window_bars": 9}, "sigma_min_bars 10 exceeds vol_window_bars 9"),
    ],
)
def test_unreachable_minimums_are_refused(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarketConfig.model_validate(fields)


def test_one_yaml_section_for_every_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ridgeline.yaml"
    config.write_text("market:\n  spread_source: estimate\n  spread_bps: {ETHBTC: 1.5}\n")
    monkeypatch.setenv("RIDGELINE_CONFIG", str(config))
    monkeypatch.setenv("RIDGELINE_MARKET__SPREAD_MIN_BARS", "40")
    market = load_settings(ServiceSettings).market
    assert market.spread_source == "estimate" and market.spread_bps == {"ETHBTC": 1.5}
    assert market.spread_min_bars == 40  # the environment wins over the file
    monkeypatch.setenv("RIDGELINE_MARKET__SPREAD_SOURCE", "guess")
    with pytest.raises(ConfigError, match=r"market\.spread_source \[RIDGELINE_MARKET__SPREAD_SOURCE\]"):
        load_settings(ServiceSettings)
