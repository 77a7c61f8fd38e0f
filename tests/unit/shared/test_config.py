"""A bad configuration value stops start-up with a message that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ridgeline_shared.config import ConfigError, ServiceSettings, load_settings
from ridgeline_shared.intervals import minutes_to_bars, parse_minutes

pytestmark = pytest.mark.unit


def test_defaults_validate() -> None:
    settings = load_settings(ServiceSettings)
    assert settings.interval == "5m" and settings.horizons[-1] == "1d"


def test_env_value_error_names_key_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_BUS__BATCH_SIZE", "lots")
    with pytest.raises(ConfigError) as info:
        load_settings(ServiceSettings)
    assert "bus.batch_size" in str(info.value) and "RIDGELINE_BUS__BATCH_SIZE" in str(info.value)


def test_out_of_range_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_HTTP__PORT", "99999")
    with pytest.raises(ConfigError, match=r"http\.port"):
        load_settings(ServiceSettings)


def test_horizon_not_a_whole_number_of_bars_stops_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_INTERVAL", "15m")
    monkeypatch.setenv("RIDGELINE_HORIZONS", "15m,10m")
    with pytest.raises(ConfigError, match="10m is not a whole number of 15m bars"):
        load_settings(ServiceSettings)


def test_yaml_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "ridgeline.yaml"
    file.write_text("prefix: desk-a\nbus:\n  batch_size: 64\nrisk:\n  anything: 1\n")
    monkeypatch.setenv("RIDGELINE_CONFIG", str(file))
    monkeypatch.setenv("RIDGELINE_BUS__BATCH_SIZE", "128")
    settings = load_settings(ServiceSettings)
    assert settings.prefix == "desk-a" and settings.bus.batch_size == 128


def test_unknown_yaml_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "ridgeline.yaml"
    file.write_text("prefx: typo\n")
    monkeypatch.setenv("RIDGELINE_CONFIG", str(file))
    with pytest.raises(ConfigError, match="prefx"):
        load_settings(ServiceSettings)


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_CONFIG", "/nonexistent/ridgeline.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(ServiceSettings)


@pytest.mark.parametrize(
    ("horizon", "interval", "bars"), [("5m", "5m", 1), ("60m", "5m", 12), ("1d", "5m", 288), ("1h", "1m", 60)]
)
def test_minutes_to_bars(horizon: str, interval: str, bars: int) -> None:
    assert minutes_to_bars(horizon, interval) == bars


def test_equity_session_day_and_bad_specs() -> None:
    assert minutes_to_bars("1d", "5m", session_minutes=390) == 78
    with pytest.raises(ValueError, match="whole number"):
        minutes_to_bars("10m", "15m")
    with pytest.raises(ValueError, match="bad interval"):
        parse_minutes("5 minutes")


@pytest.mark.parametrize("value", ["5m,60m", '["5m", "60m"]'])
def test_list_settings_take_plain_text_or_json(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RIDGELINE_HORIZONS", value)
    assert load_settings(ServiceSettings).horizons == ("5m", "60m")
