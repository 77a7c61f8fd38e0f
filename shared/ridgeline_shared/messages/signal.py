"""The blender's auditable decision for one symbol and bar."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ridgeline_shared.messages.base import Frozen, Message, Symbol
from ridgeline_shared.messages.enums import Decision
from ridgeline_shared.messages.prediction import Family, Horizon, Unit


class FamilyWeight(Frozen):
    family: Family
    ridge: Unit
    bandit: Unit
    final: Unit


class HorizonSignal(Frozen):
    """MATH.md s.2 quantities for one horizon, all in bps except ``score``'s sqrt-time scaling."""

    horizon: Horizon
    blended_score: float
    sigma_bps: Annotated[float, Field(ge=0)]
    alpha_bps: float
    cost_bps: Annotated[float, Field(ge=0)]
    net_bps: float
    score: float
    reserve_bps: Annotated[float, Field(ge=0)]
    confidence: Unit
    weights: Annotated[list[FamilyWeight], Field(max_length=32)]


class Signal(Message):
    type: Literal["signal"] = "signal"
    symbol: Symbol
    interval: Horizon
    price: Annotated[float, Field(gt=0)]
    method: Literal["arbitration", "stacking"] = "arbitration"
    horizons: Annotated[list[HorizonSignal], Field(max_length=16)]
    decision: Decision
    chosen_horizon: Horizon | None
    alpha_bps: float
    expected_net_bps: float
    confidence: Unit
    # Passed through for risk's exit rule and barrier gate (MATH.md s.3).
    alpha_5m_bps: float
    p_peak: Unit | None = None
    p_valley: Unit | None = None
    spread_bps: Annotated[float, Field(ge=0)]
    sigma_bps: Annotated[float, Field(ge=0)]
