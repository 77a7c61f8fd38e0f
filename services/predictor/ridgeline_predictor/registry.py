"""The model registry: every ``*.onnx`` + manifest in a directory, validated against the running
interval, one onnxruntime session per model kept for the registry's life.

A model that fails to load or validate is recorded in :attr:`ModelRegistry.errors` and skipped; a
model whose output is not finite is reported by :meth:`LoadedModel.run` and its rows are dropped.
Nothing here raises for a bad model, so one broken file never stops the service.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from pydantic import ValidationError

from ridgeline_predictor.features import FeatureMappingError, lookback_bars, parse_feature
from ridgeline_predictor.manifest import Manifest
from ridgeline_shared.intervals import minutes_to_bars, parse_minutes

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SessionSettings:
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    allow_spinning: bool = False


def make_session(data: bytes, settings: SessionSettings) -> ort.InferenceSession:
    """A CPU session with fixed thread pools and spinning off: a trading host runs several
    services on few cores, and spinning pool threads would burn them between ticks."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if settings.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    options.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


def at_least_two_rows(X: F32) -> F32:
    """A single row as two copies of itself (take the first output back).

    onnxruntime's linear kernels (the ridge models' LinearRegressor) take another code path for
    one row and differ from any batch of two or more in the last bits, while every batch size from
    two up agrees. Never running one row makes a row's output independent of how many other
    symbols share its tick (tested for every bundled model).
    """
    return X.repeat(2, axis=0) if X.shape[0] == 1 else X


@dataclass
class LoadedModel:
    manifest: Manifest
    session: ort.InferenceSession
    horizon_bars: int  # at the running interval
    lookback: int  # bars of history its features need at the running interval
    nan_rows: int = 0
    failures: int = 0
    last_error: str | None = None
    data: bytes = field(default=b"", repr=False)  # the ONNX bytes (composing graphs, see composed)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def run(self, X: F32) -> F64 | None:
        """Outputs as float64 (NaN kept, counted); None when the session itself fails."""
        result = self.outputs(at_least_two_rows(X))
        if result is None:
            return None
        result = result[: X.shape[0]]
        self.count_nonfinite(int(np.count_nonzero(~np.isfinite(result))))
        return result

    def outputs(self, X: F32) -> F64 | None:
        """One session run: the output column as float64 (None when the session fails, counted);
        non-finite values are the caller's to count (:meth:`count_nonfinite`). Give it at least
        two rows (:func:`at_least_two_rows`)."""
        try:
            out = self.session.run([self.manifest.output_name], {self.manifest.input_name: X})[0]
            values = np.asarray(out)
            if self.manifest.output_column is not None:
                values = values[:, self.manifest.output_column]
            result = values.ravel().astype(np.float64)
            if result.shape[0] != X.shape[0]:
                raise ValueError(f"output has {result.shape[0]} rows for {X.shape[0]} inputs")
        except Exception as exc:  # onnxruntime raises several unrelated types
            self.failures += 1
            self.last_error = f"inference failed: {exc}"[:500]
            return None
        return result

    def count_nonfinite(self, bad: int) -> None:
        if bad:
            self.nan_rows += bad
            self.last_error = f"{bad} non-finite outputs in the last batch"

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": m.name,
            "family": m.family,
            "kind": m.kind,
            "horizon": m.horizon,
            "horizon_bars": self.horizon_bars,
            "version": m.version,
            "interval": m.interval,
            "features": list(m.features),
            "training_period": m.training_period.model_dump(),
            "oos_ic": m.oos_ic,
            "oos_auc": m.oos_auc,
            "status": "ok" if self.last_error is None else "degraded",
            "nan_rows": self.nan_rows,
            "failures": self.failures,
            "last_error": self.last_error,
        }


@dataclass
class ModelRegistry:
    directory: Path
    interval: str
    models: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    session_settings: SessionSettings = field(default_factory=SessionSettings)

    @property
    def regressors(self) -> list[LoadedModel]:
        return [m for _, m in sorted(self.models.items()) if not m.manifest.is_barrier]

    def barrier(self, family: str) -> LoadedModel | None:
        return next((m for _, m in sorted(self.models.items()) if m.manifest.family == family), None)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Union of every model's features, in first-seen order (models sorted by name)."""
        names: dict[str, None] = {}
        for _, model in sorted(self.models.items()):
            names.update(dict.fromkeys(model.manifest.features))
        return tuple(names)

    def describe(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "interval": self.interval,
            "models": [m.describe() for _, m in sorted(self.models.items())],
            "errors": dict(sorted(self.errors.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }


def validate_for_interval(
    manifest: Manifest, interval: str, session_minutes: int, *, allow_mapping: bool
) -> tuple[int, int]:
    """(horizon bars, lookback bars) at the running interval, or FeatureMappingError.

    A model trained at another interval runs only if mapping is allowed and every feature window
    and the horizon are whole numbers of running bars (names carry minutes, MATH.md s.1).
    """
    run_minutes = parse_minutes(interval, session_minutes)
    if manifest.interval != interval and not allow_mapping:
        raise FeatureMappingError(
            f"trained at interval {manifest.interval}, running at {interval} (mapping disabled)"
        )
    for name in manifest.features:
        parse_feature(name, session_minutes).bars(run_minutes)
    try:
        horizon_bars = minutes_to_bars(manifest.horizon, interval, session_minutes)
    except ValueError as exc:
        raise FeatureMappingError(str(exc)) from None
    return horizon_bars, lookback_bars(manifest.features, run_minutes)


def load_registry(
    directory: Path,
    interval: str,
    session_minutes: int,
    horizons: tuple[str, ...],
    session_settings: SessionSettings,
    *,
    allow_mapping: bool = True,
) -> ModelRegistry:
    registry = ModelRegistry(directory=directory, interval=interval, session_settings=session_settings)
    if not directory.is_dir():
        registry.errors["<directory>"] = f"models directory {directory} does not exist"
        return registry
    wanted = {parse_minutes(h, session_minutes) for h in horizons}
    for onnx_path in sorted(directory.glob("*.onnx")):
        key = onnx_path.stem
        try:
            manifest = Manifest.model_validate(json.loads(onnx_path.with_suffix(".json").read_text()))
            if manifest.onnx_file != onnx_path.name:
                raise ValueError(f"manifest names {manifest.onnx_file}, not {onnx_path.name}")
            data = onnx_path.read_bytes()
            if hashlib.sha256(data).hexdigest() != manifest.sha256:
                raise ValueError("ONNX bytes do not match the manifest's sha256")
            if not manifest.is_barrier and parse_minutes(manifest.horizon, session_minutes) not in wanted:
                registry.skipped[key] = f"horizon {manifest.horizon} is not configured"
                continue
            horizon_bars, lookback = validate_for_interval(
                manifest, interval, session_minutes, allow_mapping=allow_mapping
            )
            session = make_session(data, session_settings)
            inputs = session.get_inputs()
            if len(inputs) != 1 or inputs[0].name != manifest.input_name:
                raise ValueError(f"expected one input {manifest.input_name!r}")
            width = inputs[0].shape[-1]
            if isinstance(width, int) and width != len(manifest.features):
                raise ValueError(f"input width {width} != {len(manifest.features)} features")
            if manifest.output_name not in {o.name for o in session.get_outputs()}:
                raise ValueError(f"no output {manifest.output_name!r}")
        except (OSError, ValueError, ValidationError, json.JSONDecodeError) as exc:
            registry.errors[key] = str(exc).splitlines()[0][:500]
            continue
        except Exception as exc:  # onnxruntime's load errors are not ValueError subclasses
            registry.errors[key] = f"onnxruntime could not load the model: {exc}"[:500]
            continue
        registry.models[manifest.name] = LoadedModel(manifest, session, horizon_bars, lookback, data=data)
    return registry
