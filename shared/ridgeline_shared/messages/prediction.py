"""Every horizon x family prediction for one symbol and bar, plus the barrier probabilities."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ridgeline_shared.messages.base import Frozen, Message, Symbol

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Horizon = Annotated[str, Field(pattern=r"^\d+(m|h|d)$")]
Family = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class ModelPrediction(Frozen):
    """One model's output with the MATH.md s.1 confidence factors.

    ``zscore`` is None and ``warming_up`` True until the standardiser has ``min_samples``.
    ``score`` is the calibrated score ``s~ = s x c`` (0 while warming up).
    """

    horizon: Horizon
    family: Family
    model_version: Annotated[str, Field(max_length=64)]
    raw: float
    zscore: Annotated[float, Field(ge=-3.0, le=3.0)] | None
    ic: Unit
    freshness: Unit
    capacity: Unit
    stability: Unit
    confidence: Unit
    score: Annotated[float, Field(ge=-3.0, le=3.0)]
    warming_up: bool


class BarrierPrediction(Frozen):
    """P(the bar is a local high / low within the next k bars), from the barrier classifiers."""

    p_peak: Unit
    p_valley: Unit
    model_version: Annotated[str, Field(max_length=64)]


class Predictions(Message):
    type: Literal["predictions"] = "predictions"
    symbol: Symbol
    interval: Horizon
    close: Annotated[float, Field(gt=0)]
    entries: Annotated[list[ModelPrediction], Field(max_length=256)]
    barrier: BarrierPrediction | None = None
