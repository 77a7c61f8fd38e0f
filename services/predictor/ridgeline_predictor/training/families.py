"""The model families, small and seeded so that training is fast and reproducible.

Single-threaded on purpose (LightGBM ``num_threads=1``, BLAS limited by the caller): a different
thread count may reorder floating-point sums and change the model, and with it the version hash.
"""

from __future__ import annotations

import warnings
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

GBT_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}
RIDGE_PARAMS: dict[str, Any] = {"alpha": 100.0}
MLP_PARAMS: dict[str, Any] = {
    "hidden_layer_sizes": [16, 8],
    "alpha": 1e-2,
    "batch_size": 256,
    "learning_rate_init": 1e-3,
    "max_iter": 20,
}


def params_of(family: str) -> dict[str, Any]:
    if family in ("gbt", "barrier_peak", "barrier_valley"):
        return dict(GBT_PARAMS)
    if family == "ridge":
        return dict(RIDGE_PARAMS)
    if family == "mlp":
        return dict(MLP_PARAMS)
    raise ValueError(f"unknown family {family!r}")


def _lgb_common(seed: int) -> dict[str, Any]:
    return {
        "random_state": seed,
        "n_jobs": 1,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def make_model(family: str, seed: int) -> Any:
    params = params_of(family)
    if family == "gbt":
        return lgb.LGBMRegressor(**params, **_lgb_common(seed))
    if family in ("barrier_peak", "barrier_valley"):
        return lgb.LGBMClassifier(**params, **_lgb_common(seed))
    if family == "ridge":
        return Pipeline([("scale", StandardScaler()), ("ridge", Ridge(**params))])
    mlp = MLPRegressor(
        hidden_layer_sizes=tuple(params["hidden_layer_sizes"]),
        alpha=params["alpha"],
        batch_size=params["batch_size"],
        learning_rate_init=params["learning_rate_init"],
        max_iter=params["max_iter"],
        random_state=seed,
        shuffle=True,
    )
    return Pipeline([("scale", StandardScaler()), ("mlp", mlp)])


def fit(model: Any, X: NDArray[np.float32], y: NDArray[np.float64]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(X, y.astype(np.float32) if not _is_classifier(model) else y.astype(np.int64))
    return model


def _is_classifier(model: Any) -> bool:
    return isinstance(model, lgb.LGBMClassifier)


def predict(model: Any, X: NDArray[np.float32]) -> NDArray[np.float64]:
    """The framework's own prediction: the value the ONNX export must reproduce."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        if _is_classifier(model):
            return np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)
        return np.asarray(model.predict(X), dtype=np.float64).reshape(-1)
