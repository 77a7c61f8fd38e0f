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
    # q = planned_notional / price: the order size the impact term is charged for, in the bars'
    # quote currency (BTC for the bundled data, where 10,000 would be a fantasy order). The default
    # is risk's max_weight x initial_cash defaults (0.05 x 100), as the predictor's planned_notional.
    planned_notional: Positive = 5.0


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
    """Spread, volatility and ADV come from the shared ``market`` section (MarketConfig), so the
    cost model prices the spread that risk gates on and the paper venue charges.

    ``arbitration_pick``: "best_tradable" (default) ranks only the horizons that clear their own
    threshold ``cost_h + reserve_h``. "best" is MATH.md's literal rule: rank every horizon by
    ``score_h = net_h / sqrt(h / 5)``, then test the winner against its full cost. The penalty
    divides the score but not the threshold, and the spread is paid once whatever the horizon,
    so the longest horizon wins the ranking and then fails its unpenalised cost: with "best"
    nothing below 1d ever trades, even when 5m clears its own threshold (shown by the blender
    core test test_equal_conviction_ranks_the_long_horizon_first). "best" stays available.
    """

    method: Literal["arbitration", "stacking"] = "arbitration"
    arbitration_pick: Literal["best", "best_tradable"] = "best_tradable"
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
