"""Confidence factors of MATH.md s.1, each in [0, 1], and their product.

``c = IC x freshness x capacity x stability``; the calibrated score is ``s~ = s x c``.

IC and stability come from a model's matured predictions. Until enough have matured, the prior is
the model's out-of-sample IC from its manifest (the walk-forward IC of training, negative -> 0),
and the observed value is shrunk toward it with the weight of ``prior_samples`` pseudo-samples:
``ic = (n x ic_obs + n0 x ic_prior) / (n + n0)``. Stability uses the matching prior MSE of two
standardised series with correlation ``ic_prior``: ``E[(a - b)^2] = 2 (1 - ic_prior)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def shrink(observed: float, n: int, prior: float, prior_samples: int, min_samples: int) -> float:
    """Observed statistic shrunk toward the prior; the prior alone below ``min_samples``."""
    n_eff = n if n >= min_samples else 0
    if n_eff + prior_samples == 0:
        return prior
    return (n_eff * observed + prior_samples * prior) / (n_eff + prior_samples)


def ic_estimate(ic_obs: float, n: int, oos_ic: float, prior_samples: int, min_samples: int) -> float:
    """Rolling Spearman IC shrunk toward the manifest's out-of-sample IC; negative counts as 0."""
    return unit(shrink(ic_obs, n, max(0.0, oos_ic), prior_samples, min_samples))


def stability(mse_obs: float, n: int, oos_ic: float, prior_samples: int, min_samples: int) -> float:
    """``1 / (1 + RMSE)`` of standardised prediction vs standardised realised return (MATH.md
    Decision: not 1/RMSE, so it stays in [0, 1])."""
    prior_mse = 2.0 * (1.0 - unit(oos_ic))
    mse = max(0.0, shrink(mse_obs, n, prior_mse, prior_samples, min_samples))
    return 1.0 / (1.0 + math.sqrt(mse))


def tau_seconds(horizon_minutes: int, tau_5m: float) -> float:
    """Freshness time constant: ``tau_5m`` at 5 minutes, linear in the horizon (300 s at 10m)."""
    return tau_5m * horizon_minutes / 5.0


def freshness(age_s: F64, tau_s: float) -> F64:
    """``exp(-age / tau)``, age = bar received_at - bar close (event time, never the wall clock)."""
    return np.asarray(np.exp(-np.maximum(age_s, 0.0) / tau_s), dtype=np.float64)


def capacity(adv_notional: F64, kappa: float, planned_notional: float) -> F64:
    """``min(1, kappa x ADV / planned)``: how much of the planned trade the market can absorb."""
    return np.asarray(
        np.minimum(1.0, kappa * np.maximum(adv_notional, 0.0) / planned_notional), dtype=np.float64
    )
