"""Ridge risk-parity weights of the model families of one horizon (MATH.md s.2).

``w ∝ (Sigma + lambda I)^-1 mu`` with ``mu_m = IC_m - lambda_c x cost_share``; negatives clipped to
0, normalised, equal weights when all vanish; then temperature ``w ∝ w^T``.

Sigma is pooled per horizon over every symbol of the shard (**decision**): a per-symbol 3x3
correlation over one day of bars is noisy, and the families' errors are driven by the same
features on every symbol, so the pooled estimate is the stabler one. It is kept as a rolling window
of per-tick pairwise sufficient statistics, so a family that is warming up for some symbols only
removes those pairs, and a restored window gives bit-identical correlations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def target_vector(ic: FloatArray, cost_share: FloatArray | float, cost_lambda: float) -> FloatArray:
    """``mu_m = IC_m - lambda_c x cost_share`` (broadcast over rows of symbols)."""
    return np.asarray(ic, dtype=float) - cost_lambda * np.asarray(cost_share, dtype=float)


def ridge_risk_parity(sigma: FloatArray, mu: FloatArray, ridge_lambda: float) -> FloatArray:
    """Weights for one ``mu`` vector or a ``(n, K)`` stack of them (one solve for all rows)."""
    k = sigma.shape[0]
    a = sigma + ridge_lambda * np.eye(k)
    mu2 = np.atleast_2d(mu)
    raw = np.linalg.solve(a, mu2.T).T
    weights = normalise_or_equal(np.clip(raw, 0.0, None))
    return weights if np.ndim(mu) == 2 else weights[0]


def normalise_or_equal(w: FloatArray) -> FloatArray:
    """Rows (along the last axis) scaled to sum 1; an all-zero row becomes equal weights.

    Stacks of any depth are one call; each row's sum is the same reduction as alone."""
    plain = isinstance(w, np.ndarray) and w.ndim >= 2 and w.dtype == np.float64
    w2 = w if plain else np.atleast_2d(np.asarray(w, dtype=float))
    total = w2.sum(axis=-1, keepdims=True)
    positive = total > 0
    out = np.where(positive, w2 / np.where(positive, total, 1.0), 1.0 / w2.shape[-1])
    return out if np.ndim(w) >= 2 else out[0]


def apply_temperature(w: FloatArray, temperature: float) -> FloatArray:
    """``w ∝ w^T`` (MATH.md Decision): with T < 1 the weights move towards uniform, raising entropy.

    The entropy of ``p ∝ w^beta`` has derivative ``-beta Var(log w)`` in beta, so it can only rise
    when beta = T falls below 1. Zero weights stay zero.
    """
    if temperature == 1.0:
        return normalise_or_equal(w)
    return normalise_or_equal(np.power(np.asarray(w, dtype=float), temperature))


def entropy(w: FloatArray) -> float:
    p = np.asarray(w, dtype=float)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def pairwise_moments(x: FloatArray, mask: BoolArray) -> FloatArray:
    """Sufficient statistics of pairwise-complete correlation for rows ``x`` (missing where ~mask).

    Returns ``(4, K, K)``: counts ``N[i,j]``, ``S[i,j]`` = sum of x_i, ``Q[i,j]`` = sum of x_i^2 and
    ``P[i,j]`` = sum of x_i x_j, each over the rows where both i and j are present.
    """
    out = np.empty((4, x.shape[1], x.shape[1]))
    _moments_into(out, x, mask)
    return out


def _moments_into(out: FloatArray, x: FloatArray, mask: BoolArray) -> None:
    m = mask.astype(float)
    xz = np.where(mask, x, 0.0)
    out[0] = m.T @ m
    out[1] = xz.T @ m
    out[2] = (xz * xz).T @ m
    out[3] = xz.T @ xz


def correlation_from_moments(moments: FloatArray, min_obs: int) -> FloatArray:
    """Pairwise-complete Pearson correlation; pairs with < ``min_obs`` rows or no variance get 0.

    ``moments`` is ``(4, K, K)`` or a stack ``(..., 4, K, K)`` (one call for every horizon of a
    tick); every step is elementwise, so a stacked result is bit-identical to one at a time."""
    n, s, q, p = (moments[..., i, :, :] for i in range(4))
    k = n.shape[-1]
    cov = n * p - s * np.swapaxes(s, -1, -2)
    var = n * q - s * s
    denom = np.sqrt(np.clip(var, 0.0, None) * np.clip(np.swapaxes(var, -1, -2), 0.0, None))
    ok = (n >= min_obs) & (denom > 1e-12 * np.maximum(n, 1.0) ** 2)
    corr = np.where(ok, cov / np.where(ok, denom, 1.0), 0.0)
    corr = np.clip(corr, -1.0, 1.0)
    diagonal = np.arange(k)
    corr[..., diagonal, diagonal] = 1.0
    return corr


class RollingCorrelation:
    """A ring buffer of per-tick pairwise moments; the window's correlation is their sum's."""

    __slots__ = ("_buf", "_cached", "_filled", "_pos", "k", "min_obs", "window")

    def __init__(self, k: int, window: int, min_obs: int) -> None:
        self.k, self.window, self.min_obs = k, window, min_obs
        self._buf = np.zeros((window, 4, k, k))
        self._pos = 0
        self._filled = 0
        self._cached: FloatArray | None = None

    def push(self, x: FloatArray, mask: BoolArray) -> None:
        if not mask.any():
            return
        _moments_into(self._buf[self._pos], x, mask)
        self._pos = (self._pos + 1) % self.window
        self._filled = min(self._filled + 1, self.window)
        self._cached = None

    def moments(self) -> FloatArray:
        return np.asarray(self._buf.sum(axis=0), dtype=float)

    def correlation(self) -> FloatArray:
        """The window's correlation, computed once per push: a read-only array (it is published
        to the HTTP thread as is)."""
        if self._cached is None:
            correlations([self])
        assert self._cached is not None
        return self._cached

    def observations(self) -> int:
        """Observations of the least observed pair of families in the window."""
        return int(self.moments()[0].min()) if self._filled else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "window": self.window,
            "min_obs": self.min_obs,
            "pos": self._pos,
            "filled": self._filled,
            "buf": self._buf.reshape(self.window, 4 * self.k * self.k).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RollingCorrelation:
        rc = cls(int(data["k"]), int(data["window"]), int(data["min_obs"]))
        rc._pos, rc._filled = int(data["pos"]), int(data["filled"])
        rc._buf = np.asarray(data["buf"], dtype=float).reshape(rc.window, 4, rc.k, rc.k)
        return rc


def correlations(windows: Sequence[RollingCorrelation]) -> list[FloatArray]:
    """Every window's :meth:`~RollingCorrelation.correlation`, the stale ones of equal shape in
    one stacked pass (one set of numpy calls per tick instead of one per horizon)."""
    stale: dict[tuple[int, int], list[RollingCorrelation]] = {}
    for rc in windows:
        if rc._cached is None:
            if rc._filled == 0:
                eye = np.eye(rc.k)
                eye.flags.writeable = False
                rc._cached = eye
            else:
                stale.setdefault((rc.k, rc.min_obs), []).append(rc)
    for (_, min_obs), group in stale.items():
        corr = correlation_from_moments(np.array([rc.moments() for rc in group]), min_obs)
        corr.flags.writeable = False
        for rc, c in zip(group, corr, strict=True):
            rc._cached = c
    return [rc.correlation() for rc in windows]
