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
    max_lag: Annotated[int, Field(ge=10)] = 20_000
    # Streams keep at least this many entries, and never trim past an unacknowledged one.
    retain_entries: Annotated[int, Field(ge=1_000)] = 1_000_000
    snapshot_every_ticks: Annotated[int, Field(ge=1)] = 500


class HttpSettings(FrozenConfig):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    control_token: SecretStr | None = None


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
