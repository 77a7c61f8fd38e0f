"""The blender's configuration: every MATH.md s.2 default is a field here, none is a constant in code."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from ridgeline_shared.config import FrozenConfig, ServiceSettings
from ridgeline_shared.intervals import parse_minutes

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _check_horizon_keys(value: dict[str, float]) -> dict[str, float]:
    for key in value:
        parse_minutes(key)
    return value


class CostConfig(FrozenConfig):
    """``cost_h = k1 spread + k2 sigma_5m sqrt(h/5) + k3 sigma_daily sqrt(q/ADV)`` (bps)."""

    k1: NonNegative = 1.0
    k2: NonNegative = 0.15
    k3: NonNegative = 1.0
    # q = planned_notional / price: the order size the impact term is charged for.
    planned_notional: Positive = 10_000.0
    # Spread used until the Abdi-Ranaldo estimate has ``spread_min_bars`` terms, per symbol.
    spread_default_bps: NonNegative = 5.0
    spread_defaults_bps: dict[str, NonNegative] = Field(default_factory=dict)
    spread_min_bars: Annotated[int, Field(ge=2)] = 30
    spread_window_bars: Annotated[int, Field(ge=2)] = 288
    vol_window_bars: Annotated[int, Field(ge=3)] = 288
    # One-bar volatility is unknown (the horizon is not traded) below this many returns.
    sigma_min_bars: Annotated[int, Field(ge=2)] = 20

    def spread_default(self, symbol: str) -> float:
        return self.spread_defaults_bps.get(symbol, self.spread_default_bps)


class BanditConfig(FrozenConfig):
    """Exp3-IX (Neu 2015) per horizon, one arm per family (MATH.md s.2 Decision)."""

    gamma: Annotated[float, Field(gt=0, le=1)] = 0.05
    eta_max: Positive = 0.07
    reward_clip_bps: Positive = 100.0
    # Updates before the bandit's weights enter the blend (ridge only until then).
    warm_start_updates: Annotated[int, Field(ge=0)] = 500
    # final = ridge_share x ridge + (1 - ridge_share) x bandit, once warm.
    ridge_share: Annotated[float, Field(ge=0, le=1)] = 0.7


class StackingConfig(FrozenConfig):
    """Decay of a horizon's weight with its distance ``d`` = horizon length in minutes."""

    decay: Literal["exponential", "linear", "inverse"] = "exponential"
    half_life_minutes: Positive = 30.0
    d_max_minutes: Positive = 120.0
    eps_minutes: Positive = 1.0


class BlenderConfig(FrozenConfig):
    method: Literal["arbitration", "stacking"] = "arbitration"
    # "best": MATH.md as written (rank all horizons, then threshold the winner); "best_tradable":
    # rank only the horizons that clear their own threshold (see arbitration.arbitrate).
    arbitration_pick: Literal["best", "best_tradable"] = "best"
    # Families (bandit arms) per horizon; empty: discovered from the predictions, in sorted order.
    families: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")], ...] = ()
    ridge_lambda: NonNegative = 0.15
    # mu_m = IC_m - cost_lambda x cost_share.
    cost_lambda: NonNegative = 0.5
    # cost_share = cost_h / E|alpha_h|, E|alpha_h| an exponentially weighted mean of span
    # ``alpha_abs_span`` bars per (symbol, horizon); capped so a zero alpha history stays finite.
    alpha_abs_span: Annotated[int, Field(ge=1)] = 288
    cost_share_cap: Positive = 10.0
    # Pooled (all symbols of the shard) correlation of the families' z-scores per horizon,
    # over the last ``corr_window_ticks`` ticks; pairs with fewer observations count as 0.
    corr_window_ticks: Annotated[int, Field(ge=1, le=100_000)] = 288
    corr_min_obs: Annotated[int, Field(ge=2)] = 30
    # w <- w^T per horizon (MATH.md Decision); horizons not listed use default_temperature.
    temperature: dict[str, Positive] = Field(default_factory=lambda: {"5m": 0.75, "10m": 0.85, "15m": 0.90})
    default_temperature: Positive = 1.0
    # reserve_h = multiple x spread; horizons not listed have no reserve.
    reserve_spread_multiple: dict[str, NonNegative] = Field(default_factory=lambda: {"5m": 0.75, "10m": 0.5})
    # score_h = net_h / sqrt(h / score_reference_minutes).
    score_reference_minutes: Positive = 5.0
    # How long (bars) an emitted signal waits for the executions it caused.
    signal_retention_bars: Annotated[int, Field(ge=1)] = 6
    cost: CostConfig = CostConfig()
    bandit: BanditConfig = BanditConfig()
    stacking: StackingConfig = StackingConfig()

    _temperature_keys = field_validator("temperature")(_check_horizon_keys)
    _reserve_keys = field_validator("reserve_spread_multiple")(_check_horizon_keys)


class BlenderSettings(ServiceSettings):
    blender: BlenderConfig = BlenderConfig()
