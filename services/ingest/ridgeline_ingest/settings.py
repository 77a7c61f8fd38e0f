"""Ingest configuration (``ingest:`` in the YAML file, ``RIDGELINE_INGEST__*`` in the environment),
validated at start: calendar, interval against the calendar's sessions, source requirements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from ridgeline_ingest.calendar import TradingCalendar, get_calendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.pipeline import QualityConfig
from ridgeline_shared.config import FrozenConfig, ServiceSettings

DATA_SUBDIR = Path("data") / "market"


class SyntheticConfig(FrozenConfig):
    symbols: tuple[str, ...] = ("SYN0", "SYN1", "SYN2", "SYN3")
    bars: Annotated[int, Field(ge=1)] = 10_000
    seed: int = 7
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    sigma_bps: Annotated[float, Field(gt=0, le=10_000)] = 20.0
    drift_bps: float = 0.0
    start_price: Annotated[float, Field(gt=0, lt=1e9)] = 100.0


class AlpacaConfig(FrozenConfig):
    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    asset_class: Literal["stock", "crypto"] = "stock"
    # stock: iex (free) or sip; crypto: us
    feed: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,16}$")] = "iex"
    # Overrides the provider's websocket URL (a proxy, or a local test server).
    url: str | None = None


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class IngestConfig(FrozenConfig):
    source: Literal["files", "synthetic", "alpaca"] = "files"
    # Files or directories of bar files; empty: data_dir, else the bundled data/market/.
    paths: tuple[str, ...] = ()
    data_dir: str | None = None
    # Only these symbols (empty: every symbol the source has).
    symbols: tuple[str, ...] = ()
    # Stop a replay before the tick that would publish more bars than this (whole ticks only).
    max_bars: Annotated[int, Field(ge=1)] | None = None
    # 0: as fast as the pipeline takes bars (backtest); 1: real time; k: k x real time.
    speed: Annotated[float, Field(ge=0)] = 0.0
    # Cap on the wall-clock wait between two paced ticks (skip nights, weekends in a demo).
    max_wait_s: Annotated[float, Field(gt=0)] | None = None
    # Replay starts by itself; False waits for POST /control/start.
    autostart: bool = True
    calendar: str = "24/7"
    outlier_sigma: Annotated[float, Field(gt=0)] = 8.0
    outlier_window: Annotated[int, Field(ge=2, le=100_000)] = 100
    outlier_min_samples: Annotated[int, Field(ge=2)] = 30
    # Live: a bar arriving later than this after its close is stale; a symbol without a bar
    # for one interval plus this is reported stale in /status.
    stale_after_ms: Annotated[int, Field(ge=0)] = 120_000
    # Live: publish a tick this long after its close even if some symbols sent no bar.
    tick_grace_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 10_000
    # Time zone of timestamps written without an offset (vendor files in exchange time).
    naive_timezone: str = "UTC"
    timestamp_is: Literal["open", "close"] = "open"
    synthetic: SyntheticConfig = SyntheticConfig()
    alpaca: AlpacaConfig = AlpacaConfig()

    @field_validator("symbols", "paths", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("naive_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IngestConfig:
        if self.outlier_min_samples > self.outlier_window:
            raise ValueError("outlier_min_samples must not exceed outlier_window")
        if self.source == "alpaca":
            if not self.symbols:
                raise ValueError("ingest.symbols: the alpaca source needs the symbols to subscribe to")
            if self.alpaca.api_key is None or self.alpaca.secret_key is None:
                raise ValueError("ingest.alpaca.api_key and ingest.alpaca.secret_key are required")
        return self

    def quality(self) -> QualityConfig:
        return QualityConfig(
            outlier_sigma=self.outlier_sigma,
            outlier_window=self.outlier_window,
            outlier_min_samples=self.outlier_min_samples,
            stale_after=timedelta(milliseconds=self.stale_after_ms),
        )


def bundled_data_dir() -> Path | None:
    """The repository's ``data/market/``: searched upward from this package and from the
    working directory, so a source checkout and an editable install both find it."""
    for base in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in (base, *base.parents):
            candidate = parent / DATA_SUBDIR
            if candidate.is_dir():
                return candidate
    return None


def resolve_paths(cfg: IngestConfig) -> tuple[Path, ...]:
    if cfg.paths:
        return tuple(Path(p).expanduser() for p in cfg.paths)
    if cfg.data_dir:
        return (Path(cfg.data_dir).expanduser(),)
    found = bundled_data_dir()
    if found is None:
        raise ValueError(
            "ingest.paths: no bar files configured and no bundled data/market/ directory found; "
            "set RIDGELINE_INGEST__PATHS or RIDGELINE_INGEST__DATA_DIR"
        )
    return (found,)


class IngestSettings(ServiceSettings):
    ingest: IngestConfig = IngestConfig()

    @model_validator(mode="after")
    def _ingest(self) -> IngestSettings:
        calendar = get_calendar(self.ingest.calendar)
        interval = Interval.parse(self.interval)
        calendar.check_interval(interval)
        if self.session_minutes != calendar.regular_session_minutes:
            raise ValueError(
                f"session_minutes is {self.session_minutes} but a regular {calendar.name} session has "
                f"{calendar.regular_session_minutes} minutes; set RIDGELINE_SESSION_MINUTES="
                f"{calendar.regular_session_minutes} so 1d horizons are one session"
            )
        if self.ingest.source == "files":
            missing = [str(p) for p in resolve_paths(self.ingest) if not p.exists()]
            if missing:
                raise ValueError(f"ingest.paths: {missing} do not exist")
        return self

    def trading_calendar(self) -> TradingCalendar:
        return get_calendar(self.ingest.calendar)

    def bar_interval(self) -> Interval:
        return Interval.parse(self.interval)
