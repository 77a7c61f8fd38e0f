"""The blender's tick as it was before it was batched: per horizon, per symbol, one model at a time.

Kept as the oracle the optimised core is held to, bit for bit (test_blender_equivalence.py). It
is the pre-optimisation code with its own copies of the numerics it used (the rolling
correlation, ridge solve, normalisation, temperature, arbitration), so a change to the optimised
ones cannot move both sides at once. Inputs other than the tick (bars, fills, the bandits, the
outcome book) go through the real core, which the equivalence tests compare as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from ridgeline_blender.arbitration import (
    HOLD_NOTHING,
    Choice,
    HorizonFigures,
    _decide,
    horizon_score,
    net_alpha,
    reserve_bps,
    stack,
)
from ridgeline_blender.core import Blender, HorizonState, cost_share, ewm_mean, ewm_update
from ridgeline_blender.costs import horizon_cost_bps, sigma_5m_bps, sigma_horizon_bps
from ridgeline_blender.outcomes import Attribution, SignalRecord, contribution_shares
from ridgeline_shared.messages import FamilyWeight, HorizonSignal, ModelPrediction, Predictions, Signal


# -- the numerics, as they were ------------------------------------------------------------------
def normalise_or_equal(w: np.ndarray) -> np.ndarray:
    w2 = np.atleast_2d(np.asarray(w, dtype=float))
    total = w2.sum(axis=1, keepdims=True)
    k = w2.shape[1]
    out = np.where(total > 0, w2 / np.where(total > 0, total, 1.0), 1.0 / k)
    return out if np.ndim(w) == 2 else out[0]


def ridge_risk_parity(sigma: np.ndarray, mu: np.ndarray, ridge_lambda: float) -> np.ndarray:
    k = sigma.shape[0]
    a = sigma + ridge_lambda * np.eye(k)
    mu2 = np.atleast_2d(mu)
    raw = np.linalg.solve(a, mu2.T).T
    weights = normalise_or_equal(np.clip(raw, 0.0, None))
    return weights if np.ndim(mu) == 2 else weights[0]


def apply_temperature(w: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0:
        return normalise_or_equal(w)
    return normalise_or_equal(np.power(np.asarray(w, dtype=float), temperature))


def pairwise_moments(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(float)
    xz = np.where(mask, x, 0.0)
    return np.stack((m.T @ m, xz.T @ m, (xz * xz).T @ m, xz.T @ xz))


def correlation_from_moments(moments: np.ndarray, min_obs: int) -> np.ndarray:
    n, s, q, p = moments
    k = n.shape[0]
    cov = n * p - s * s.T
    var = n * q - s * s
    denom = np.sqrt(np.clip(var, 0.0, None) * np.clip(var.T, 0.0, None))
    ok = (n >= min_obs) & (denom > 1e-12 * np.maximum(n, 1.0) ** 2)
    corr = np.where(ok, cov / np.where(ok, denom, 1.0), 0.0)
    corr = np.clip(corr, -1.0, 1.0)
    corr[np.diag_indices(k)] = 1.0
    return corr


def _softmax(log_u: np.ndarray) -> np.ndarray:
    if log_u.size == 0:
        return log_u.copy()
    z = np.exp(log_u - log_u.max())
    return np.asarray(z / z.sum(), dtype=float)


class RollingCorrelation:
    def __init__(self, k: int, window: int, min_obs: int) -> None:
        self.k, self.window, self.min_obs = k, window, min_obs
        self._buf = np.zeros((window, 4, k, k))
        self._pos = 0
        self._filled = 0

    def push(self, x: np.ndarray, mask: np.ndarray) -> None:
        if not mask.any():
            return
        self._buf[self._pos] = pairwise_moments(x, mask)
        self._pos = (self._pos + 1) % self.window
        self._filled = min(self._filled + 1, self.window)

    def correlation(self) -> np.ndarray:
        if self._filled == 0:
            return np.eye(self.k)
        return correlation_from_moments(np.asarray(self._buf.sum(axis=0), dtype=float), self.min_obs)


def arbitrate(figures: list[HorizonFigures], reference_minutes: float = 5.0, pick: str = "best") -> Choice:
    eligible = [f for f in figures if f.eligible]
    if not eligible:
        return HOLD_NOTHING
    if pick == "best_tradable":
        tradable = [
            f
            for f in eligible
            if f.alpha_bps and f.edge_score(reference_minutes) >= f.cost_bps + f.reserve_bps
        ]
        eligible = tradable or eligible
    best = max(eligible, key=lambda f: f.edge_score(reference_minutes))
    threshold = best.cost_bps + best.reserve_bps
    return Choice(
        _decide(best.alpha_bps, best.edge_score(reference_minutes), threshold),
        best.horizon,
        best.alpha_bps,
        best.net(),
        best.score(reference_minutes),
        threshold,
        best.sigma_bps,
        best.confidence,
    )


# -- the tick, as it was ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Market:
    sigma1: float | None
    spread: float
    adv: float | None
    price: float
    costs: tuple[float, ...]


@dataclass(slots=True)
class _HorizonBlock:
    families: tuple[str, ...]
    ridge: list[list[float]]
    bandit: list[list[float]]
    final: list[list[float]]
    scores: list[list[float]]
    blended: list[float]
    confidence: list[float]
    eligible: list[bool]
    probabilities: list[float]


class ReferenceBlender(Blender):
    """The real core with the pre-batching tick (and its own correlation windows)."""

    def _new_horizon(self, families: list[str]) -> HorizonState:
        state = super()._new_horizon(families)
        state.corr = RollingCorrelation(
            len(families), self.config.corr_window_ticks, self.config.corr_min_obs
        )  # type: ignore[assignment]
        return state

    def _add_family(self, horizon: str, family: str) -> None:
        super()._add_family(horizon, family)
        state = self.horizons[horizon]
        state.corr = RollingCorrelation(
            len(state.families), self.config.corr_window_ticks, self.config.corr_min_obs
        )  # type: ignore[assignment]

    def _publish(self) -> None:
        """No view (the reference's windows are not the core's)."""

    def add_predictions(self, predictions: Predictions) -> None:
        grouped = self.parse_predictions(predictions)
        ignored = len(predictions.entries) - sum(len(v) for v in grouped.values())
        if predictions.symbol in self._batch:
            self.counters["duplicate_predictions"] += 1
        self._batch[predictions.symbol] = (predictions, grouped)
        self.counters["ignored_entries"] += ignored

    def end_tick(self) -> list[Signal]:
        batch: Any = sorted(self._batch.items())
        self._batch = {}
        if not batch:
            return []
        self.counters["ticks"] += 1
        if not self.config.families:
            for spec in self.specs:
                found = {e.family for _, (_, g) in batch for e in g.get(spec.name, ())}
                for family in sorted(found - set(self.horizons[spec.name].families)):
                    self._add_family(spec.name, family)
        markets = [self._ref_market(sym, p.close) for sym, (p, _) in batch]
        blocks = [self._blend_horizon(h, batch, markets) for h in range(len(self.specs))]
        signals = [
            self._ref_signal(i, sym, preds, markets[i], blocks) for i, (sym, (preds, _)) in enumerate(batch)
        ]
        self.counters["signals"] += len(signals)
        return signals

    def _ref_market(self, symbol: str, price: float) -> _Market:
        stats, cfg, market = self._stats(symbol), self.config.cost, self.market_config
        sigma1 = market.sigma_bps(stats)
        spread = market.spread_for(symbol, stats)
        adv = stats.adv_shares()
        costs = tuple(
            horizon_cost_bps(
                self.cost_model,
                spread_bps=spread,
                sigma_1_bps=sigma1,
                interval_minutes=self.interval_minutes,
                horizon_minutes=spec.minutes,
                session_bars=self.session_bars,
                planned_notional=cfg.planned_notional,
                price=price,
                adv_shares=adv,
            )
            for spec in self.specs
        )
        return _Market(sigma1, spread, adv, price, costs)

    def _blend_horizon(
        self,
        h: int,
        batch: list[tuple[str, tuple[Predictions, dict[str, list[ModelPrediction]]]]],
        markets: list[_Market],
    ) -> _HorizonBlock:
        spec, cfg = self.specs[h], self.config
        state = self.horizons[spec.name]
        n, k = len(batch), len(state.families)
        index = {f: j for j, f in enumerate(state.families)}
        ic, scores, z, conf = (np.zeros((n, k)) for _ in range(4))
        active = np.zeros((n, k), dtype=bool)
        for i, (_, (_, grouped)) in enumerate(batch):
            for e in grouped.get(spec.name, ()):
                j = index[e.family]
                if not e.warming_up and e.zscore is not None:
                    active[i, j] = True
                    ic[i, j], scores[i, j], z[i, j], conf[i, j] = e.ic, e.score, e.zscore, e.confidence
        probabilities = _softmax(state.bandit.log_u).tolist()
        ridge, bandit_w = np.zeros((n, k)), np.zeros((n, k))
        if k:
            state.corr.push(z, active)
            sigma = state.corr.correlation()
            shares = np.array(
                [self._ref_cost_share(sym, h, m) for (sym, _), m in zip(batch, markets, strict=True)]
            )
            mu = np.asarray(ic, dtype=float) - cfg.cost_lambda * np.asarray(shares[:, None], dtype=float)
            codes = active @ (1 << np.arange(k, dtype=np.int64))
            for code in np.unique(codes):
                if code == 0:
                    continue
                rows = np.flatnonzero(codes == code)
                cols = np.flatnonzero(active[rows[0]])
                sub = sigma[np.ix_(cols, cols)]
                w = ridge_risk_parity(sub, mu[np.ix_(rows, cols)], cfg.ridge_lambda)
                ridge[np.ix_(rows, cols)] = apply_temperature(w, spec.temperature)
                index_of = {a: c for c, a in enumerate(state.bandit.arms)}
                log_u = state.bandit.log_u[[index_of[state.families[c]] for c in cols]]
                bandit_w[np.ix_(rows, cols)] = _softmax(log_u)
        warm = state.bandit.t >= cfg.bandit.warm_start_updates
        share = cfg.bandit.ridge_share
        final = normalise_or_equal(share * ridge + (1.0 - share) * bandit_w) if warm and k else ridge
        final = np.clip(np.where(active, final, 0.0), 0.0, 1.0)
        return _HorizonBlock(
            families=tuple(state.families),
            ridge=np.clip(ridge, 0.0, 1.0).tolist(),
            bandit=np.clip(bandit_w, 0.0, 1.0).tolist(),
            final=final.tolist(),
            scores=scores.tolist(),
            blended=(final * scores).sum(axis=1).tolist(),
            confidence=np.clip((final * conf).sum(axis=1), 0.0, 1.0).tolist(),
            eligible=[
                bool(a) and m.sigma1 is not None for a, m in zip(active.sum(axis=1) > 0, markets, strict=True)
            ],
            probabilities=probabilities,
        )

    def _ref_cost_share(self, symbol: str, h: int, m: _Market) -> float:
        mean = ewm_mean(self.alpha_abs.get(symbol, {}).get(self.specs[h].name), self.config.alpha_abs_span)
        return cost_share(m.costs[h], mean, self.config.cost_share_cap)

    def _ref_signal(
        self, i: int, symbol: str, preds: Predictions, m: _Market, blocks: list[_HorizonBlock]
    ) -> Signal:
        cfg = self.config
        ref = cfg.score_reference_minutes
        horizon_signals: list[HorizonSignal] = []
        figures: list[HorizonFigures] = []
        attributions: dict[str, Attribution] = {}
        alpha_abs = self.alpha_abs.setdefault(symbol, {})
        sigma1 = m.sigma1 or 0.0
        for h, spec in enumerate(self.specs):
            block = blocks[h]
            eligible = block.eligible[i]
            sigma_h = sigma_horizon_bps(sigma1, spec.bars)
            blended = block.blended[i]
            alpha = blended * sigma_h if eligible else 0.0
            cost = m.costs[h]
            net = net_alpha(alpha, cost)
            reserve = reserve_bps(m.spread, spec.reserve_multiple)
            confidence = block.confidence[i] if eligible else 0.0
            final = block.final[i]
            horizon_signals.append(
                HorizonSignal(
                    horizon=spec.name,
                    blended_score=blended,
                    sigma_bps=sigma_h,
                    alpha_bps=alpha,
                    cost_bps=cost,
                    net_bps=net,
                    score=horizon_score(net, spec.minutes, ref),
                    reserve_bps=reserve,
                    confidence=confidence,
                    weights=[
                        FamilyWeight(family=f, ridge=r, bandit=b, final=w)
                        for f, r, b, w in zip(
                            block.families, block.ridge[i], block.bandit[i], final, strict=True
                        )
                    ],
                )
            )
            figures.append(
                HorizonFigures(spec.name, spec.minutes, alpha, cost, reserve, sigma_h, confidence, eligible)
            )
            if eligible:
                ewm_update(alpha_abs.setdefault(spec.name, [0.0, 0.0]), abs(alpha), cfg.alpha_abs_span)
                shares = contribution_shares(final, block.scores[i])
                if any(shares):
                    attributions[spec.name] = Attribution(list(block.families), shares, block.probabilities)
        if cfg.method == "stacking":
            choice = stack(figures, self._decay, ref)
        else:
            choice = arbitrate(figures, ref, cfg.arbitration_pick)
        self.counters[choice.decision.value.lower()] += 1
        self.outcomes.record_signal(
            symbol,
            SignalRecord(preds.event_time, choice.horizon, attributions),
            timedelta(minutes=self.interval_minutes * cfg.signal_retention_bars),
        )
        five = next(h for h in horizon_signals if h.horizon == self._five.name)
        sigma5 = sigma_5m_bps(sigma1, self.interval_minutes)
        return Signal(
            event_time=preds.event_time,
            trace_id=preds.trace_id,
            trace=dict(preds.trace),
            symbol=symbol,
            interval=preds.interval,
            price=preds.close,
            method=cfg.method,
            horizons=horizon_signals,
            decision=choice.decision,
            chosen_horizon=choice.horizon,
            alpha_bps=choice.alpha_bps,
            expected_net_bps=choice.net_bps,
            confidence=min(1.0, max(0.0, choice.confidence)),
            alpha_5m_bps=five.alpha_bps,
            p_peak=preds.barrier.p_peak if preds.barrier else None,
            p_valley=preds.barrier.p_valley if preds.barrier else None,
            spread_bps=m.spread,
            sigma_bps=choice.sigma_bps if choice.horizon is not None else sigma5,
        )
