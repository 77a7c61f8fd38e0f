"""One tick's blending of every horizon's families for every symbol of the tick (MATH.md s.2).

Per horizon: the ridge risk-parity weights of ``mu = IC - lambda_c cost_share`` on the pooled
correlation, tempered, mixed with the bandit's once it is warm; then each symbol's blended score
``sum_m w_m s~_m`` and confidence.

Two paths, one result. :func:`blend_horizon` takes any horizon, whatever subset of families is
active for each symbol (one solve per distinct subset). :func:`blend_stacked` takes the usual
case, horizons where every family is active for every symbol, all at once: one stacked solve and
one set of numpy calls for all of them instead of one per horizon. Every stacked step is either
elementwise or the same per-row reduction (the solve of each matrix, the sum of each row), so its
figures are bit-identical to :func:`blend_horizon`'s (unit tests hold the two to that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ridgeline_blender.bandit import Exp3IX
from ridgeline_blender.outcomes import Attribution, contribution_shares
from ridgeline_blender.ridge import (
    BoolArray,
    FloatArray,
    apply_temperature,
    normalise_or_equal,
    ridge_risk_parity,
    target_vector,
)


@dataclass(frozen=True, slots=True)
class BlendParams:
    """The configuration the blend reads (from ``BlenderConfig``)."""

    ridge_lambda: float
    cost_lambda: float
    ridge_share: float


@dataclass(slots=True)
class HorizonInputs:
    """One horizon's tick: ``(n, k)`` arrays over the tick's symbols (rows) and the horizon's
    families (columns); an inactive cell (warming up, or no entry) holds 0."""

    families: tuple[str, ...]
    active: BoolArray
    ic: FloatArray
    z: FloatArray
    scores: FloatArray
    conf: FloatArray
    # cost_h / E|alpha_h| per symbol, shape (n,).
    shares: FloatArray
    sigma: FloatArray
    temperature: float
    bandit: Exp3IX
    warm: bool


@dataclass(slots=True)
class HorizonBlock:
    """One horizon's results for every symbol of the tick as flat Python lists: the value of row
    (symbol) ``i`` and family ``j`` is at ``i * k + j``. A few lists per tick rather than a few
    per symbol: each list alive at the tick's end is work for the garbage collector, and the
    blocks are kept for the bandit's attributions. Never mutated once built."""

    families: tuple[str, ...]
    ridge: list[float]
    bandit: list[float]
    final: list[float]
    scores: list[float]
    blended: list[float]
    confidence: list[float]
    # Whether any family is active for the symbol.
    active: list[bool]
    probabilities: list[float]

    def row(self, values: list[float], i: int) -> list[float]:
        k = len(self.families)
        return values[i * k : (i + 1) * k]


WeightRows = tuple[tuple[str, ...], list[float], list[float], list[float]]


@dataclass(slots=True)
class TickBlend:
    """Every horizon's block of one tick (configured order) and, per row, whether the symbol's
    volatility was known: what the tick's signals were made of. The outcome book's records and
    the weights view keep it by reference and derive their figures when asked (rarely: a fill, an
    HTTP request, a snapshot), rather than the tick building them for every symbol."""

    blocks: dict[str, HorizonBlock]
    known: list[bool]

    def horizons(self) -> list[str]:
        return list(self.blocks)

    def attribution(self, row: int, horizon: str) -> Attribution | None:
        """The signal's attribution at ``horizon``: None unless the horizon was eligible and
        some family contributed (as the record of an emitted signal always had it)."""
        block = self.blocks.get(horizon)
        if block is None or not (self.known[row] and block.active[row]):
            return None
        shares = contribution_shares(block.row(block.final, row), block.row(block.scores, row))
        if not any(shares):
            return None
        return Attribution(list(block.families), shares, block.probabilities)

    def single(self, row: int) -> TickBlend:
        """Row ``row`` alone: what a symbol keeps of a tick once the tick itself is let go."""
        blocks = {
            name: HorizonBlock(
                b.families,
                b.row(b.ridge, row),
                b.row(b.bandit, row),
                b.row(b.final, row),
                b.row(b.scores, row),
                [b.blended[row]],
                [b.confidence[row]],
                [b.active[row]],
                b.probabilities,
            )
            for name, b in self.blocks.items()
        }
        return TickBlend(blocks, [self.known[row]])

    def weights(self, row: int, horizon: str) -> WeightRows | None:
        """Families and the ridge, bandit and final weights of ``row`` at ``horizon``."""
        block = self.blocks.get(horizon)
        if block is None:
            return None
        return (
            block.families,
            block.row(block.ridge, row),
            block.row(block.bandit, row),
            block.row(block.final, row),
        )


def blend_horizon(inp: HorizonInputs, params: BlendParams) -> HorizonBlock:
    """Any horizon: the rows are grouped by their set of active families, one solve per set."""
    n, k = inp.active.shape
    active, state_families = inp.active, inp.families
    ridge, bandit_w = np.zeros((n, k)), np.zeros((n, k))
    if k:
        mu = target_vector(inp.ic, inp.shares[:, None], params.cost_lambda)
        codes = active @ (1 << np.arange(k, dtype=np.int64))
        for code in np.unique(codes):
            if code == 0:
                continue
            rows = np.flatnonzero(codes == code)
            cols = np.flatnonzero(active[rows[0]])
            sub = inp.sigma[np.ix_(cols, cols)]
            w = ridge_risk_parity(sub, mu[np.ix_(rows, cols)], params.ridge_lambda)
            ridge[np.ix_(rows, cols)] = apply_temperature(w, inp.temperature)
            bandit_w[np.ix_(rows, cols)] = inp.bandit.probabilities_of([state_families[c] for c in cols])
    share = params.ridge_share
    final = normalise_or_equal(share * ridge + (1.0 - share) * bandit_w) if inp.warm and k else ridge
    final = np.clip(np.where(active, final, 0.0), 0.0, 1.0)
    return HorizonBlock(
        families=state_families,
        ridge=np.clip(ridge, 0.0, 1.0).ravel().tolist(),
        bandit=np.clip(bandit_w, 0.0, 1.0).ravel().tolist(),
        final=final.ravel().tolist(),
        scores=inp.scores.ravel().tolist(),
        blended=(final * inp.scores).sum(axis=1).tolist(),
        confidence=np.clip((final * inp.conf).sum(axis=1), 0.0, 1.0).tolist(),
        active=(active.sum(axis=1) > 0).tolist(),
        probabilities=inp.bandit.probabilities().tolist(),
    )


def stackable(inp: HorizonInputs) -> bool:
    """Every family active for every symbol (and at least one family)."""
    return inp.active.shape[1] > 0 and bool(inp.active.all())


def blend_stacked(inputs: Sequence[HorizonInputs], params: BlendParams) -> list[HorizonBlock]:
    """Horizons that are all :func:`stackable` with the same number of families, at once."""
    n, k = inputs[0].active.shape
    h_count = len(inputs)
    sigma = np.array([inp.sigma for inp in inputs])
    ic = np.array([inp.ic for inp in inputs])
    shares = np.array([inp.shares for inp in inputs])
    mu = target_vector(ic, shares[:, :, None], params.cost_lambda)
    # ridge_risk_parity, each horizon's matrix solved for all its rows, all horizons in one call.
    a = sigma + params.ridge_lambda * np.eye(k)
    raw = np.linalg.solve(a, mu.transpose(0, 2, 1)).transpose(0, 2, 1)
    weights = normalise_or_equal(np.clip(raw, 0.0, None))
    # apply_temperature: w^T where T != 1, then every horizon renormalised.
    powered = [
        w if inp.temperature == 1.0 else np.power(w, inp.temperature)
        for w, inp in zip(weights, inputs, strict=True)
    ]
    ridge = normalise_or_equal(np.array(powered))
    # Every row of a horizon has the same bandit weights: its distribution over all families.
    probabilities = np.array([inp.bandit.probabilities_of(inp.families) for inp in inputs])
    warm = np.array([inp.warm for inp in inputs])
    final = ridge
    if warm.any():
        share = params.ridge_share
        mixed = normalise_or_equal(share * ridge + (1.0 - share) * probabilities[:, None, :])
        final = np.where(warm[:, None, None], mixed, ridge)
    final = np.clip(final, 0.0, 1.0)
    scores = np.array([inp.scores for inp in inputs])
    conf = np.array([inp.conf for inp in inputs])
    flat = (h_count, n * k)
    ridge_rows = np.clip(ridge, 0.0, 1.0).reshape(flat).tolist()
    bandit_rows = np.clip(probabilities, 0.0, 1.0).tolist()
    final_rows = final.reshape(flat).tolist()
    score_rows = scores.reshape(flat).tolist()
    blended = (final * scores).sum(axis=-1).tolist()
    confidence = np.clip((final * conf).sum(axis=-1), 0.0, 1.0).tolist()
    all_active = [True] * n
    return [
        HorizonBlock(
            families=inputs[h].families,
            ridge=ridge_rows[h],
            bandit=bandit_rows[h] * n,
            final=final_rows[h],
            scores=score_rows[h],
            blended=blended[h],
            confidence=confidence[h],
            active=all_active,
            probabilities=inputs[h].bandit.probabilities().tolist(),
        )
        for h in range(h_count)
    ]
