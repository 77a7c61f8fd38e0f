"""Settings shared by every service: environment variables (``RIDGELINE_`` prefix, ``__`` for
nesting) over an optional YAML file (``RIDGELINE_CONFIG``), validated at start.

A bad value raises :class:`ConfigError` naming the key and its environment variable; service
entry points turn it into a one-line message and exit status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from ridgeline_shared.intervals import minutes_to_bars, parse_minutes
from ridgeline_shared.market import MarketStats

ENV_PREFIX = "RIDGELINE_"
CONFIG_FILE_ENV = "RIDGELINE_CONFIG"
SERVICE_SECTIONS = frozenset({"ingest", "predictor", "blender", "risk", "executor", "launcher", "report"})
DEFAULT_HORIZONS = ("5m", "10m", "15m", "30m", "60m", "1d")


class FrozenConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BusSettings(FrozenConfig):
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 512
    block_ms: Annotated[int, Field(ge=1, le=60_000)] = 50
    claim_idle_ms: Annotated[int, Field(ge=100)] = 30_000
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    # Back-pressure: a producer waits while a consumer group of its output lags by more entries.
    # With frames an entry is a tick, so this bounds how many ticks a producer runs ahead.
    max_lag: Annotated[int, Field(ge=10)] = 256
    # Streams keep at least this many entries (with frames: ticks), and never trim past an
    # unacknowledged one.
    retain_entries: Annotated[int, Field(ge=1_000)] = 1_000_000
    snapshot_every_ticks: Annotated[int, Field(ge=1)] = 500
    # A tick's messages on a stream go out as frames (one entry: the messages and the watermark
    # closing the tick) of at most frame_messages; off: one entry per message. Both are read.
    frames: bool = True
    frame_messages: Annotated[int, Field(ge=1, le=10_000)] = 1_000


class HttpSettings(FrozenConfig):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    control_token: SecretStr | None = None


NonNegativeBps = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class MarketConfig(FrozenConfig):
    """How every service turns a symbol's bars into spread, volatility and ADV.

    One definition, read by all: the blender's cost model, risk's spread gate and the paper venue's
    fills must see the same spread for the same bars, or the blender trades a spread the gate
    refuses and the venue charges a third one. Each service keeps its own :class:`MarketStats`
    (from the bars it reads) but creates, reads and bounds it only through this section
    (YAML ``market:``, env ``RIDGELINE_MARKET__*``).

    ``spread_source="configured"`` (the default) uses the per-symbol configured spread;
    ``"estimate"`` uses the Abdi-Ranaldo estimate from bars once it has ``spread_min_bars`` terms,
    the configured spread before. Configured is the default because the estimator is biased
    upwards on 5-minute bars of thin pairs: on the bundled BTC-quoted bars it reads 30-100 bps
    (medians ETHBTC 29, LTCBTC 39, TRXBTC 84 over a 288-bar window), several times these pairs'
    real quoted spreads, which would block every trade at risk's 12 bps gate and price every
    horizon out in the blender's cost model.
    """

    spread_source: Literal["configured", "estimate"] = "configured"
    default_spread_bps: NonNegativeBps = 5.0
    # Per-symbol configured spreads; symbols not listed use default_spread_bps.
    spread_bps: dict[str, NonNegativeBps] = Field(default_factory=dict)
    spread_window_bars: Annotated[int, Field(ge=2)] = 288
    # "estimate": the configured spread until the window holds this many terms.
    spread_min_bars: Annotated[int, Field(ge=1)] = 30
    vol_window_bars: Annotated[int, Field(ge=3)] = 288
    # One-bar volatility is unknown (None) below this many returns.
    sigma_min_bars: Annotated[int, Field(ge=2)] = 20
    # Bars of volume averaged for ADV (scaled to one session); None: one session of bars.
    adv_window_bars: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _reachable(self) -> MarketConfig:
        # A minimum the window can never hold would silently disable the statistic.
        if self.spread_min_bars > self.spread_window_bars:
            raise ValueError(
                f"spread_min_bars {self.spread_min_bars} exceeds spread_window_bars {self.spread_window_bars}"
            )
        if self.sigma_min_bars > self.vol_window_bars:
            raise ValueError(
                f"sigma_min_bars {self.sigma_min_bars} exceeds vol_window_bars {self.vol_window_bars}"
            )
        return self

    def new_stats(self, session_bars: int) -> MarketStats:
        """Empty statistics for one symbol; ``session_bars``: bars of one trading session."""
        adv = self.adv_window_bars if self.adv_window_bars is not None else max(session_bars, 1)
        return MarketStats(self.vol_window_bars, self.spread_window_bars, adv)

    def configured_spread(self, symbol: str) -> float:
        return self.spread_bps.get(symbol, self.default_spread_bps)

    def spread_for(self, symbol: str, stats: MarketStats | None) -> float:
        """The symbol's spread in bps (the configured one when there are no statistics yet)."""
        configured = self.configured_spread(symbol)
        if self.spread_source == "configured" or stats is None:
            return configured
        return stats.spread_bps(configured, self.spread_min_bars)

    def sigma_bps(self, stats: MarketStats | None) -> float | None:
        """One-bar log-return volatility in bps; None until ``sigma_min_bars`` returns."""
        return None if stats is None else stats.sigma_bps(self.sigma_min_bars)


class ServiceSettings(BaseSettings):
    """Common settings; each service subclasses it and adds its own section."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "ridgeline"
    shard: Annotated[int, Field(ge=0)] = 0
    shard_count: Annotated[int, Field(ge=1, le=1024)] = 1
    consumer: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    mode: Literal["replay", "paper", "live"] = "replay"
    interval: str = "5m"
    horizons: tuple[str, ...] = DEFAULT_HORIZONS
    session_minutes: Annotated[int, Field(ge=1, le=1440)] = 1440
    strategy_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = "ridgeline"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    bus: BusSettings = BusSettings()
    http: HttpSettings = HttpSettings()
    market: MarketConfig = MarketConfig()

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        parse_minutes(value)
        return value

    @field_validator("horizons", mode="before")
    @classmethod
    def _horizon_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSettings:
        if self.shard >= self.shard_count:
            raise ValueError(f"shard {self.shard} must be below shard_count {self.shard_count}")
        for horizon in self.horizons:
            try:
                minutes_to_bars(horizon, self.interval, self.session_minutes)
            except ValueError as exc:
                raise ValueError(f"horizons / interval: {exc}") from None
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _LenientEnvSource(settings_cls), _YamlSource(settings_cls)


class _LenientEnvSource(EnvSettingsSource):
    """Complex values may be JSON or plain text (``RIDGELINE_INGEST__SYMBOLS=ETHBTC,LTCBTC``):
    text that is not JSON is handed to the field's validators instead of failing to parse."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return value


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file named by ``RIDGELINE_CONFIG``; other services' sections are skipped."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get(CONFIG_FILE_ENV)
        self._data: dict[str, Any] = {}
        if path:
            file = Path(path)
            if not file.is_file():
                raise ConfigError(f"{CONFIG_FILE_ENV}: config file {path!r} does not exist")
            loaded = yaml.safe_load(file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{CONFIG_FILE_ENV}: {path!r} must hold a mapping at top level")
            own = set(settings_cls.model_fields)
            self._data = {k: v for k, v in loaded.items() if k in own or k not in SERVICE_SECTIONS}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class ConfigError(ValueError):
    """Start-up configuration is invalid; the message names every offending key."""


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build and validate settings, turning pydantic's errors into key-naming messages."""
    try:
        return cls(**overrides)
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if not error["loc"]:
                lines.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            key = ".".join(str(part) for part in error["loc"])
            env = ENV_PREFIX + "__".join(str(p).upper() for p in error["loc"])
            value = error.get("input")
            shown = "" if isinstance(value, dict) else f" (got {value!r})"
            lines.append(f"{key} [{env}]: {error['msg']}{shown}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
