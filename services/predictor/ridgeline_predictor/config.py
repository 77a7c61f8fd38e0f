"""Predictor settings: the shared service settings plus the ``predictor`` section (MATH.md s.1
defaults; every one of them is configuration)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from ridgeline_shared.config import FrozenConfig, ServiceSettings

PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_models_dir() -> Path:
    """The models trained on the bundled data: ``services/predictor/models`` next to the package
    (editable installs and the Docker image, which copies the service folder)."""
    return PACKAGE_DIR.parent / "models"


class PredictorConfig(FrozenConfig):
    # None: the bundled models (see bundled_models_dir).
    models_dir: Path | None = None
    # A model trained at another interval runs if every feature window and its horizon are whole
    # bars at the running interval (names carry minutes); False refuses any interval mismatch.
    map_intervals: bool = True
    # Standardiser: rolling window of raw predictions, in trading sessions of bars.
    z_window_sessions: Annotated[float, Field(gt=0, le=100)] = 10.0
    z_min_samples: Annotated[int, Field(ge=2)] = 100
    z_clip: Annotated[float, Field(gt=0)] = 3.0
    # IC and stability: pooled window of matured predictions per model.
    # (at one bar of horizon; x ceil(sqrt(horizon bars)) when scaling, capped at ic_window_max).
    ic_window: Annotated[int, Field(ge=10)] = 500
    ic_window_scales_with_horizon: bool = True
    ic_window_max: Annotated[int, Field(ge=10)] = 10_000
    # The IC over the window is recomputed after window / this many new matured pairs.
    ic_refreshes_per_window: Annotated[int, Field(ge=1)] = 50
    ic_min_samples: Annotated[int, Field(ge=3)] = 30
    # Weight, in pseudo-samples, of the prior (the manifest's out-of-sample IC).
    ic_prior_samples: Annotated[int, Field(ge=0)] = 100
    # Freshness exp(-age / tau_h), tau_h = tau_5m_seconds x horizon minutes / 5.
    tau_5m_seconds: Annotated[float, Field(gt=0)] = 150.0
    # Capacity min(1, kappa x ADV / planned), both in the bars' quote currency. The default planned
    # notional is risk's max_weight x initial_cash defaults (0.05 x 100).
    kappa: Annotated[float, Field(gt=0)] = 0.1
    planned_notional: Annotated[float, Field(gt=0)] = 5.0
    # onnxruntime sessions: fixed small pools, spinning off.
    onnx_intra_op_threads: Annotated[int, Field(ge=1, le=64)] = 1
    onnx_inter_op_threads: Annotated[int, Field(ge=1, le=64)] = 1
    onnx_allow_spinning: bool = False
    # Run every model that composes exactly as one graph, one session run per tick (composed.py).
    onnx_compose: bool = True
    # Restart without a snapshot: bars per symbol read back from the retained bars stream.
    rebuild_max_entries: Annotated[int, Field(ge=0)] = 200_000

    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else bundled_models_dir()


class PredictorSettings(ServiceSettings):
    predictor: PredictorConfig = PredictorConfig()
