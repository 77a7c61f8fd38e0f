"""Train every (family, horizon) model and the barrier classifiers, evaluate them out of sample
with purged walk-forward folds, refit on all rows and export ONNX + manifest.

Reproducible by construction: fixed seeds, single-threaded fits (LightGBM and BLAS), rows in a
fixed (time, symbol) order, and manifests without wall-clock time. Version = the first 12 hex
digits of the ONNX bytes' SHA-256, so a changed model always gets a new version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from ridgeline_predictor.features import DEFAULT_FEATURES
from ridgeline_predictor.manifest import (
    BARRIER_FAMILIES,
    REGRESSOR_FAMILIES,
    Manifest,
    TrainingPeriod,
    dump_manifest,
)
from ridgeline_predictor.stats import auc, spearman
from ridgeline_predictor.training import families
from ridgeline_predictor.training.data import load_dir
from ridgeline_predictor.training.dataset import Dataset, build_dataset
from ridgeline_predictor.training.export import to_onnx
from ridgeline_predictor.training.splits import walk_forward
from ridgeline_shared.config import DEFAULT_HORIZONS
from ridgeline_shared.intervals import CRYPTO_SESSION_MINUTES, minutes_to_bars, parse_minutes

F64 = NDArray[np.float64]
TARGET = "fwd_logret_bps"


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path
    out_dir: Path
    interval: str = "5m"
    session_minutes: Annotated[int, Field(ge=1, le=1440)] = CRYPTO_SESSION_MINUTES
    horizons: tuple[str, ...] = DEFAULT_HORIZONS
    families: tuple[str, ...] = REGRESSOR_FAMILIES
    barriers: bool = True
    # Peak/valley labels look this many bars ahead; the barrier models' horizon is k intervals.
    barrier_k_bars: Annotated[int, Field(ge=1)] = 1
    features: tuple[str, ...] = DEFAULT_FEATURES
    symbols: tuple[str, ...] = ()
    # Symbols with less history than this are skipped (default: 10 sessions of 5m bars).
    min_rows: Annotated[int, Field(ge=0)] = 2880
    # Keep only the last N bars of each symbol (0: all); used by fast tests.
    tail_rows: Annotated[int, Field(ge=0)] = 0
    folds: Annotated[int, Field(ge=1, le=20)] = 4
    initial_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.4
    # Training labels are clipped to these quantiles of each fold's training labels (outliers).
    label_clip_quantile: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.005
    seed: int = 7


@dataclass(frozen=True)
class FoldResult:
    ics: list[float]
    aucs: list[float]


def _clip_labels(y: F64, q: float) -> F64:
    if q <= 0:
        return y
    lo, hi = np.quantile(y, [q, 1.0 - q])
    return np.clip(y, lo, hi)


def evaluate(
    data: Dataset,
    family: str,
    y: F64,
    purge_s: int,
    config: TrainConfig,
    transform: Callable[[F64], F64] | None = None,
) -> FoldResult:
    """Walk-forward out-of-sample IC (and AUC for classifiers) of one family on labels ``y``."""
    labelled = np.nonzero(np.isfinite(y))[0]
    folds = walk_forward(data.event_s[labelled], config.folds, config.initial_fraction, purge_s)
    ics, aucs = [], []
    for fold in folds:
        train, test = labelled[fold.train], labelled[fold.test]
        y_train = (
            y[train] if family in BARRIER_FAMILIES else _clip_labels(y[train], config.label_clip_quantile)
        )
        if transform is not None:
            y_train = transform(y_train)
        model = families.fit(families.make_model(family, config.seed), data.X[train], y_train)
        pred = families.predict(model, data.X[test])
        ics.append(spearman(pred, y[test]))
        if family in BARRIER_FAMILIES:
            aucs.append(auc(pred, y[test]))
    return FoldResult(ics, aucs)


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fit_export(
    data: Dataset,
    family: str,
    horizon: str,
    horizon_bars: int,
    y: F64,
    config: TrainConfig,
    out: Path,
) -> Manifest:
    step_s = parse_minutes(config.interval) * 60
    purge_s = horizon_bars * step_s
    result = evaluate(data, family, y, purge_s, config)
    rows = np.nonzero(np.isfinite(y))[0]
    y_fit = y[rows] if family in BARRIER_FAMILIES else _clip_labels(y[rows], config.label_clip_quantile)
    model = families.fit(families.make_model(family, config.seed), data.X[rows], y_fit)
    name = f"{family}_{horizon}"
    exported = to_onnx(model, len(data.features), name)
    digest = hashlib.sha256(exported.data).hexdigest()
    (out / f"{name}.onnx").write_bytes(exported.data)
    barrier = family in BARRIER_FAMILIES
    manifest = Manifest(
        name=name,
        family=family,
        kind="classifier" if barrier else "regressor",
        version=digest[:12],
        sha256=digest,
        onnx_file=f"{name}.onnx",
        interval=config.interval,
        horizon=horizon,
        horizon_bars=horizon_bars,
        session_minutes=config.session_minutes,
        features=list(data.features),
        input_name=exported.input_name,
        output_name=exported.output_name,
        output_column=exported.output_column,
        target=f"barrier_{family.removeprefix('barrier_')}_k{config.barrier_k_bars}" if barrier else TARGET,
        training_period=TrainingPeriod(
            start=_iso(int(data.event_s[rows].min())), end=_iso(int(data.event_s[rows].max()))
        ),
        symbols=list(data.symbols),
        n_rows=int(rows.size),
        purge_bars=horizon_bars,
        folds=len(result.ics),
        oos_ic=float(np.mean(result.ics)),
        oos_ic_folds=result.ics,
        oos_auc=float(np.mean(result.aucs)) if barrier else None,
        barrier_k_bars=config.barrier_k_bars if barrier else None,
        seed=config.seed,
        params=families.params_of(family),
    )
    (out / f"{name}.json").write_text(dump_manifest(manifest))
    return manifest


def train(config: TrainConfig, log: Callable[[str], None] = print) -> list[Manifest]:
    """Train everything into a fresh directory, then swap it in place of ``out_dir``."""
    histories, notes = load_dir(config.data_dir, config.interval, config.symbols, config.min_rows)
    if config.tail_rows:
        histories = [
            type(h)(h.symbol, h.interval, h.event_s[-config.tail_rows :], h.bars[-config.tail_rows :])
            for h in histories
        ]
    for note in notes:
        log(note)
    horizon_bars = {h: minutes_to_bars(h, config.interval, config.session_minutes) for h in config.horizons}
    data = build_dataset(histories, config.features, horizon_bars, config.barrier_k_bars)
    log(f"{len(data.symbols)} symbols, {data.X.shape[0]} rows, {len(data.features)} features")
    tmp = config.out_dir.with_name(config.out_dir.name + ".training")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    manifests: list[Manifest] = []
    with threadpool_limits(limits=1):
        for horizon in config.horizons:
            for family in config.families:
                m = _fit_export(
                    data, family, horizon, horizon_bars[horizon], data.targets[horizon], config, tmp
                )
                manifests.append(m)
                log(f"{m.name:<22} version {m.version}  oos IC {m.oos_ic:+.4f}  rows {m.n_rows}")
        if config.barriers:
            k = config.barrier_k_bars
            barrier_horizon = f"{k * parse_minutes(config.interval)}m"
            for family, labels in (("barrier_peak", data.peak), ("barrier_valley", data.valley)):
                m = _fit_export(data, family, barrier_horizon, k, labels, config, tmp)
                manifests.append(m)
                log(f"{m.name:<22} version {m.version}  oos IC {m.oos_ic:+.4f}  AUC {m.oos_auc:.4f}")
    summary: dict[str, Any] = {
        "interval": config.interval,
        "symbols": list(data.symbols),
        "models": {m.name: {"version": m.version, "oos_ic": round(m.oos_ic, 6)} for m in manifests},
        "notes": notes,
    }
    (tmp / "training_summary.json").write_text(json.dumps(summary, sort_keys=True, indent=2) + "\n")
    _swap(tmp, config.out_dir)
    return manifests


def _swap(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` with renames, so a reader never sees a half-written set."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
