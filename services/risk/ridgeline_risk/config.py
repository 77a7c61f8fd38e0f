"""Risk configuration: every MATH.md s.3 default is a field here, none is a constant in code.

``RiskConfig.limits`` holds what an operator may change at run time (``POST /control/limits``):
the guardrails and the pre-trade limits. Everything else (gates, sizing, rounding) is start-up
configuration, because changing it mid-run would change what a replay of the same bars produces.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ridgeline_shared.config import FrozenConfig, ServiceSettings

Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


def _split_symbols(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _at_most_twelve_places(value: Decimal) -> Decimal:
    # Order quantities and prices carry at most 12 decimal places (messages.order_request).
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12 and value != value.quantize(Decimal("1e-12")):
        raise ValueError(f"{value} has more than 12 decimal places")
    return value


class RiskLimits(FrozenConfig):
    """Guardrails and pre-trade limits. Fractions are of portfolio value; money is quote currency.

    The order rate is measured in event time: an order of tick T counts in the window
    ``(T - rate_window_seconds, T]``. In a replay every order of a tick shares the tick's event
    time, so the limit caps orders per tick (and per burst of ticks closer than the window), and the
    replay denies exactly what the live run denied.
    """

    daily_loss: Fraction = 0.02
    max_drawdown: Fraction = 0.10
    max_concentration: Fraction = 0.20
    max_gross_exposure: Annotated[float, Field(gt=0.0, le=10.0)] = 0.50
    max_order_quantity: PositiveDecimal = Decimal("1000000000")
    # Absolute, in quote currency: scale it with ``initial_cash`` (the default suits cash = 100).
    max_order_notional: PositiveDecimal = Decimal(50)
    price_collar: Fraction = 0.05
    max_orders_per_second: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    rate_window_seconds: Annotated[float, Field(gt=0.0, le=3600.0)] = 1.0
    # Empty: every symbol is allowed.
    allowed_symbols: tuple[str, ...] = ()

    @field_validator("allowed_symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> Any:
        return _split_symbols(value)


class LimitsUpdate(FrozenConfig):
    """Payload of ``POST /control/limits``: any subset of :class:`RiskLimits`, checked the same way."""

    daily_loss: Fraction | None = None
    max_drawdown: Fraction | None = None
    max_concentration: Fraction | None = None
    max_gross_exposure: Annotated[float, Field(gt=0.0, le=10.0)] | None = None
    max_order_quantity: PositiveDecimal | None = None
    max_order_notional: PositiveDecimal | None = None
    price_collar: Fraction | None = None
    max_orders_per_second: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    rate_window_seconds: Annotated[float, Field(gt=0.0, le=3600.0)] | None = None
    allowed_symbols: tuple[str, ...] | None = None

    @field_validator("allowed_symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> Any:
        return _split_symbols(value)

    @model_validator(mode="after")
    def _not_empty(self) -> LimitsUpdate:
        if not self.model_fields_set:
            raise ValueError("no limit given")
        return self

    def apply(self, limits: RiskLimits) -> RiskLimits:
        changes = {name: getattr(self, name) for name in sorted(self.model_fields_set)}
        return RiskLimits.model_validate({**limits.model_dump(), **changes})


class RiskConfig(FrozenConfig):
    # Portfolio.
    initial_cash: PositiveDecimal = Decimal(100)
    # Barrier gate: g = max(g_min, (1 - P_peak)^gamma x (0.5 + 0.5 P_valley)^delta).
    g_min: Prob = 0.2
    gamma: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    delta: Annotated[float, Field(ge=0.0, le=10.0)] = 0.5
    peak_block: Prob = 0.6
    gate_block: Prob = 0.3
    exit_prob: Prob = 0.65
    prefer_valley: Prob = 0.55
    # Spread gate: the spread is the shared ``market`` section's (MarketConfig.spread_for) from
    # risk's own bars, the one the blender's cost model and the paper venue use.
    max_spread_bps: Annotated[float, Field(ge=0.0)] = 12.0
    max_data_age_ms: Annotated[float, Field(ge=0.0)] = 200.0
    # Sizing.
    max_weight: Fraction = 0.05
    z_max: Annotated[float, Field(gt=0.0, le=100.0)] = 3.0
    no_trade_band: Annotated[float, Field(ge=0.0, le=1.0)] = 0.008
    gross_target: Annotated[float, Field(gt=0.0, le=10.0)] = 0.50
    # Share rounding: lot size and price tick, with per-symbol overrides.
    lot_size: PositiveDecimal = Decimal(1)
    lot_sizes: dict[str, PositiveDecimal] = Field(default_factory=dict)
    tick_size: PositiveDecimal = Decimal("1e-8")
    tick_sizes: dict[str, PositiveDecimal] = Field(default_factory=dict)
    # Trading sessions for the daily-loss guardrail: UTC days starting ``session_start_minutes``
    # after midnight ("utc" is the 24/7 crypto calendar; an exchange calendar can be added later).
    session_calendar: Literal["utc"] = "utc"
    session_start_minutes: Annotated[int, Field(ge=0, lt=1440)] = 0
    # A guardrail breach or the kill switch: close every position, or hold it.
    on_halt: Literal["flatten", "hold"] = "flatten"
    # How many recent trade ids and client order ids are remembered for deduplication.
    dedupe_window: Annotated[int, Field(ge=100, le=10_000_000)] = 50_000
    limits: RiskLimits = RiskLimits()

    @field_validator("lot_size", "tick_size")
    @classmethod
    def _twelve_places(cls, value: Decimal) -> Decimal:
        return _at_most_twelve_places(value)

    @field_validator("lot_sizes", "tick_sizes")
    @classmethod
    def _twelve_places_each(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return {symbol: _at_most_twelve_places(v) for symbol, v in value.items()}

    def lot(self, symbol: str) -> Decimal:
        return self.lot_sizes.get(symbol, self.lot_size)

    def tick(self, symbol: str) -> Decimal:
        return self.tick_sizes.get(symbol, self.tick_size)


class RiskSettings(ServiceSettings):
    risk: RiskConfig = RiskConfig()
