"""The manifest written next to every exported model, read back by the registry.

It is the contract between training and serving: what features in what order, at which bar
interval, which horizon and output. Manifests carry no wall-clock time and rounded floats, so the
same data and config give byte-identical manifests (:func:`dump_manifest`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_SCHEMA = 1
REGRESSOR_FAMILIES = ("gbt", "mlp", "ridge")
BARRIER_FAMILIES = ("barrier_peak", "barrier_valley")
FLOAT_DIGITS = 6


class TrainingPeriod(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str  # event time (bar close, UTC ISO-8601) of the first training row
    end: str  # event time of the last training row


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    schema_version: Annotated[int, Field(ge=MANIFEST_SCHEMA, le=MANIFEST_SCHEMA)] = MANIFEST_SCHEMA
    name: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
    family: Literal["gbt", "mlp", "ridge", "barrier_peak", "barrier_valley"]
    kind: Literal["regressor", "classifier"]
    version: Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    onnx_file: str
    interval: Annotated[str, Field(pattern=r"^\d+(m|h|d)$")]
    horizon: Annotated[str, Field(pattern=r"^\d+(m|h|d)$")]
    horizon_bars: Annotated[int, Field(ge=1)]
    session_minutes: Annotated[int, Field(ge=1, le=1440)]
    features: Annotated[list[str], Field(min_length=1)]
    input_name: str
    output_name: str
    # Column of the output holding the value (1 = P(class 1) for classifiers), None for a vector.
    output_column: int | None = None
    target: str
    training_period: TrainingPeriod
    symbols: list[str]
    n_rows: Annotated[int, Field(ge=0)]
    purge_bars: Annotated[int, Field(ge=0)]
    folds: Annotated[int, Field(ge=1)]
    oos_ic: float
    oos_ic_folds: list[float]
    oos_auc: float | None = None
    barrier_k_bars: int | None = None
    seed: int
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_barrier(self) -> bool:
        return self.kind == "classifier"


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def dump_manifest(manifest: Manifest) -> str:
    """Canonical JSON: sorted keys, rounded floats, a trailing newline."""
    return json.dumps(_round(manifest.model_dump(mode="json")), sort_keys=True, indent=2) + "\n"
