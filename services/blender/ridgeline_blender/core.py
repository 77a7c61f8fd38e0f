"""The blender's pure core: bars, predictions and fills in; one auditable Signal per symbol out.

Per tick: bars update each symbol's market statistics and mature pending outcomes (which update
the bandits); predictions are buffered; at the tick's end, per horizon and for all symbols of the
tick at once, the pooled correlation is updated, ridge risk-parity weights are solved, tempered and
mixed with the bandit's, then each symbol's horizons are costed and arbitrated (or stacked).

Spread, one-bar sigma and ADV are read through the shared ``MarketConfig`` (the same figures as
risk's gate and the paper venue). Volatilities, all from the one-bar log-return sigma:
``sigma_h = sigma_1 sqrt(h bars)``; the cost model's timing sigma is the 5-minute one,
``sigma_1 sqrt(5 / interval minutes)``; ``sigma_daily = sigma_1 sqrt(bars per session)``.
The impact term's quantity is ``planned_notional / price`` and ADV is the mean bar volume times
the ADV window (one session of bars by default). ``cost_share = cost_h / E|alpha_h|`` with
``E|alpha_h|`` an exponentially weighted, bias-corrected mean of the symbol's past ``|alpha_h|``
(span ``alpha_abs_span`` bars): O(1) state per (symbol, horizon) and bit-exact on restore; 0
before any alpha exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import orjson

from ridgeline_blender.arbitration import (
    HorizonFigures,
    arbitrate,
    decay_function,
    horizon_score,
    net_alpha,
    reserve_bps,
    stack,
)
from ridgeline_blender.bandit import Exp3IX
from ridgeline_blender.config import BlenderConfig
from ridgeline_blender.costs import horizon_cost_bps, sigma_5m_bps, sigma_horizon_bps
from ridgeline_blender.outcomes import (
    Attribution,
    Fill,
    OutcomeBook,
    Realised,
    SignalRecord,
    contribution_shares,
)
from ridgeline_blender.ridge import (
    RollingCorrelation,
    apply_temperature,
    normalise_or_equal,
    ridge_risk_parity,
    target_vector,
)
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.intervals import minutes_to_bars, parse_minutes
from ridgeline_shared.market import CostModel, MarketStats
from ridgeline_shared.messages import (
    Bar,
    Execution,
    FamilyWeight,
    HorizonSignal,
    ModelPrediction,
    OrderSide,
    Predictions,
    Signal,
)

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class HorizonSpec:
    name: str
    minutes: int
    bars: int
    temperature: float
    reserve_multiple: float

    @property
    def delta(self) -> timedelta:
        return timedelta(minutes=self.minutes)


class HorizonState:
    """Pooled per-horizon state: the families (arms), their correlation window, the bandit."""

    __slots__ = ("bandit", "corr", "families")

    def __init__(self, families: list[str], corr: RollingCorrelation, bandit: Exp3IX) -> None:
        self.families, self.corr, self.bandit = families, corr, bandit


def cost_share(cost_bps: float, mean_abs_alpha: float | None, cap: float) -> float:
    """``cost / E|alpha|``, capped; 0 with no alpha history (no evidence yet), cap when it is 0."""
    if mean_abs_alpha is None or cost_bps <= 0.0:
        return 0.0
    if mean_abs_alpha <= 0.0:
        return cap
    return min(cap, cost_bps / mean_abs_alpha)


def ewm_update(state: list[float], value: float, span: int) -> None:
    """``state = [m, n]``: exponentially weighted mean accumulator and observation count."""
    a = 2.0 / (span + 1.0)
    state[0] = (1.0 - a) * state[0] + a * value
    state[1] += 1.0


def ewm_mean(state: list[float] | None, span: int) -> float | None:
    if state is None or state[1] <= 0:
        return None
    a = 2.0 / (span + 1.0)
    return float(state[0] / (1.0 - (1.0 - a) ** state[1]))


@dataclass(frozen=True, slots=True)
class _Market:
    sigma1: float | None
    spread: float
    adv: float | None
    price: float
    # cost_h of every configured horizon, in their order.
    costs: tuple[float, ...]


@dataclass(slots=True)
class _HorizonBlock:
    """One horizon's results for every symbol of the tick (rows aligned with the batch), as
    Python lists: they become message fields, and one ``tolist`` per array is the cheap way."""

    families: tuple[str, ...]
    ridge: list[list[float]]
    bandit: list[list[float]]
    final: list[list[float]]
    scores: list[list[float]]
    blended: list[float]
    confidence: list[float]
    eligible: list[bool]
    probabilities: list[float]


# symbol -> (families, ridge, bandit, final) as last used; replaced whole, never mutated.
WeightRows = tuple[tuple[str, ...], list[float], list[float], list[float]]


class Blender:
    def __init__(
        self,
        config: BlenderConfig,
        interval: str,
        horizons: Sequence[str],
        session_minutes: int = 1440,
        market: MarketConfig | None = None,
    ) -> None:
        self.config = config
        # The shared market section: the same spread and sigma as risk's gate and the venue's fills.
        self.market_config = market if market is not None else MarketConfig()
        self.interval = interval
        self.session_minutes = session_minutes
        self.interval_minutes = parse_minutes(interval, session_minutes)
        self.session_bars = minutes_to_bars("1d", interval, session_minutes)
        temperature = {parse_minutes(k, session_minutes): v for k, v in config.temperature.items()}
        reserve = {parse_minutes(k, session_minutes): v for k, v in config.reserve_spread_multiple.items()}
        self.specs: list[HorizonSpec] = []
        for name in horizons:
            minutes = parse_minutes(name, session_minutes)
            self.specs.append(
                HorizonSpec(
                    name,
                    minutes,
                    minutes_to_bars(name, interval, session_minutes),
                    temperature.get(minutes, config.default_temperature),
                    reserve.get(minutes, 0.0),
                )
            )
        if len({s.minutes for s in self.specs}) != len(self.specs):
            raise ValueError(f"duplicate horizons in {list(horizons)}")
        self._by_minutes = {s.minutes: s for s in self.specs}
        self._names: dict[str, str | None] = {}
        self._deltas = {s.name: s.delta for s in self.specs}
        self._five = next((s for s in self.specs if s.minutes == 5), min(self.specs, key=lambda s: s.minutes))
        self.cost_model = CostModel(config.cost.k1, config.cost.k2, config.cost.k3)
        self._decay = decay_function(config.stacking)
        self._batch: dict[str, tuple[Predictions, dict[str, list[ModelPrediction]]]] = {}
        self.reset()

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        self.market: dict[str, MarketStats] = {}
        self.horizons: dict[str, HorizonState] = {
            s.name: self._new_horizon(sorted(self.config.families)) for s in self.specs
        }
        self.alpha_abs: dict[str, dict[str, list[float]]] = {}
        self.outcomes = OutcomeBook()
        # horizon -> symbol -> weights as last used. Replaced (copy-on-write) at each tick's end, as
        # is ``published``, so the HTTP thread reading them never sees a structure being mutated.
        self.last_weights: dict[str, dict[str, WeightRows]] = {s.name: {} for s in self.specs}
        self.published: dict[str, Any] = {}
        self.counters: dict[str, int] = {
            "ticks": 0,
            "signals": 0,
            "buy": 0,
            "sell": 0,
            "hold": 0,
            "fills_attributed": 0,
            "outcomes_realised": 0,
            "bandit_updates": 0,
            "ignored_entries": 0,
            "duplicate_predictions": 0,
        }
        self._batch = {}
        self._publish()

    def _new_horizon(self, families: list[str]) -> HorizonState:
        cfg, bandit = self.config, self.config.bandit
        return HorizonState(
            families,
            RollingCorrelation(len(families), cfg.corr_window_ticks, cfg.corr_min_obs),
            Exp3IX(families, bandit.gamma, bandit.eta_max, bandit.reward_clip_bps),
        )

    def _add_family(self, horizon: str, family: str) -> None:
        """A new arm; the correlation window restarts, its dimension having changed."""
        state = self.horizons[horizon]
        state.families = sorted([*state.families, family])
        state.bandit.add_arm(family)
        cfg = self.config
        state.corr = RollingCorrelation(len(state.families), cfg.corr_window_ticks, cfg.corr_min_obs)

    def _stats(self, symbol: str) -> MarketStats:
        stats = self.market.get(symbol)
        if stats is None:
            stats = self.market[symbol] = self.market_config.new_stats(self.session_bars)
        return stats

    # -- inputs ----------------------------------------------------------------------------
    def _check_interval(self, interval: str, what: str) -> None:
        if parse_minutes(interval, self.session_minutes) != self.interval_minutes:
            raise ValueError(f"{what} interval {interval} differs from the configured {self.interval}")

    def on_bar(self, bar: Bar) -> list[Realised]:
        """Update the symbol's statistics, then realise the outcomes whose horizon elapsed."""
        self._check_interval(bar.interval, f"bar of {bar.symbol}")
        self._stats(bar.symbol).update(bar.high, bar.low, bar.close, bar.volume)
        realised = self.outcomes.mature(bar.symbol, bar.event_time, bar.close)
        for outcome in realised:
            state = self.horizons.get(outcome.horizon)
            key = f"{bar.symbol}|{outcome.horizon}|{outcome.client_order_id}"
            if state is not None and state.bandit.play(outcome.rewards, outcome.played, key) is not None:
                self.counters["bandit_updates"] += 1
            self.counters["outcomes_realised"] += 1
        return realised

    def on_execution(self, execution: Execution) -> bool:
        """Open or extend the outcome of a fill; status changes without a fill are ignored."""
        fill = execution.fill
        if fill is None or execution.order_event_time is None:
            return False
        attributed = self.outcomes.on_fill(
            Fill(
                symbol=execution.symbol,
                client_order_id=execution.client_order_id,
                trade_id=fill.trade_id,
                direction=1 if execution.side is OrderSide.BUY else -1,
                horizon=self._horizon_name(execution.horizon),
                order_event_time=execution.order_event_time,
                event_time=execution.event_time,
                quantity=float(fill.quantity),
                price=float(fill.price),
                commission=float(fill.commission),
            ),
            self._deltas,
        )
        if attributed:
            self.counters["fills_attributed"] += 1
        return attributed

    def _horizon_name(self, horizon: str | None) -> str | None:
        """The configured spelling of a horizon given as any equal spec (``60m`` for ``1h``)."""
        if horizon is None:
            return None
        if horizon in self._names:
            return self._names[horizon]
        try:
            spec = self._by_minutes.get(parse_minutes(horizon, self.session_minutes))
        except ValueError:
            spec = None
        name = spec.name if spec else None
        if len(self._names) < 1024:
            self._names[horizon] = name
        return name

    def parse_predictions(self, predictions: Predictions) -> dict[str, list[ModelPrediction]]:
        """Entries grouped by configured horizon; raises on a wrong interval or a repeated model."""
        self._check_interval(predictions.interval, f"predictions of {predictions.symbol}")
        grouped: dict[str, list[ModelPrediction]] = {}
        seen: set[tuple[str, str]] = set()
        allowed = set(self.config.families)
        for entry in predictions.entries:
            name = self._horizon_name(entry.horizon)
            if name is None or (allowed and entry.family not in allowed):
                continue
            if (name, entry.family) in seen:
                raise ValueError(f"predictions of {predictions.symbol}: {entry.family} at {name} repeated")
            seen.add((name, entry.family))
            grouped.setdefault(name, []).append(entry)
        return grouped

    def add_predictions(self, predictions: Predictions) -> None:
        """Buffer until the tick's end (validated first, so a refused message changes nothing)."""
        grouped = self.parse_predictions(predictions)
        ignored = len(predictions.entries) - sum(len(v) for v in grouped.values())
        if predictions.symbol in self._batch:
            self.counters["duplicate_predictions"] += 1
        self._batch[predictions.symbol] = (predictions, grouped)
        self.counters["ignored_entries"] += ignored

    # -- the tick --------------------------------------------------------------------------
    def end_tick(self) -> list[Signal]:
        """One Signal per symbol with predictions in the tick, sorted by symbol."""
        batch = sorted(self._batch.items())
        self._batch = {}
        if not batch:
            self._publish()
            return []
        self.counters["ticks"] += 1
        if not self.config.families:
            for spec in self.specs:
                found = {e.family for _, (_, g) in batch for e in g.get(spec.name, ())}
                for family in sorted(found - set(self.horizons[spec.name].families)):
                    self._add_family(spec.name, family)
        markets = [self._market(sym, p.close) for sym, (p, _) in batch]
        blocks = [self._blend_horizon(h, batch, markets) for h in range(len(self.specs))]
        signals = [
            self._signal(i, sym, preds, markets[i], blocks) for i, (sym, (preds, _)) in enumerate(batch)
        ]
        weights: dict[str, dict[str, WeightRows]] = {}
        for spec, block in zip(self.specs, blocks, strict=True):
            rows = dict(self.last_weights[spec.name])
            for i, (sym, _) in enumerate(batch):
                rows[sym] = (block.families, block.ridge[i], block.bandit[i], block.final[i])
            weights[spec.name] = rows
        self.last_weights = weights
        self.counters["signals"] += len(signals)
        self._publish()
        return signals

    def _market(self, symbol: str, price: float) -> _Market:
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
        """Ridge, temperature and bandit weights, blended score and confidence for every symbol."""
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
        probabilities = state.bandit.probabilities().tolist()
        ridge, bandit_w = np.zeros((n, k)), np.zeros((n, k))
        if k:
            state.corr.push(z, active)
            sigma = state.corr.correlation()
            shares = np.array(
                [self._cost_share(sym, h, m) for (sym, _), m in zip(batch, markets, strict=True)]
            )
            mu = target_vector(ic, shares[:, None], cfg.cost_lambda)
            codes = active @ (1 << np.arange(k, dtype=np.int64))
            for code in np.unique(codes):
                if code == 0:
                    continue
                rows = np.flatnonzero(codes == code)
                cols = np.flatnonzero(active[rows[0]])
                sub = sigma[np.ix_(cols, cols)]
                w = ridge_risk_parity(sub, mu[np.ix_(rows, cols)], cfg.ridge_lambda)
                ridge[np.ix_(rows, cols)] = apply_temperature(w, spec.temperature)
                bandit_w[np.ix_(rows, cols)] = state.bandit.probabilities_of(
                    [state.families[c] for c in cols]
                )
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

    def _cost_share(self, symbol: str, h: int, m: _Market) -> float:
        mean = ewm_mean(self.alpha_abs.get(symbol, {}).get(self.specs[h].name), self.config.alpha_abs_span)
        return cost_share(m.costs[h], mean, self.config.cost_share_cap)

    def _signal(
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
            confidence=_unit(choice.confidence),
            alpha_5m_bps=five.alpha_bps,
            p_peak=preds.barrier.p_peak if preds.barrier else None,
            p_valley=preds.barrier.p_valley if preds.barrier else None,
            spread_bps=m.spread,
            sigma_bps=choice.sigma_bps if choice.horizon is not None else sigma5,
        )

    # -- views -----------------------------------------------------------------------------
    def _publish(self) -> None:
        """The per-horizon summary behind GET /weights, rebuilt whole at each tick's end."""
        warm_after = self.config.bandit.warm_start_updates
        horizons: dict[str, Any] = {}
        for spec in self.specs:
            state = self.horizons[spec.name]
            probabilities = state.bandit.probabilities().tolist()
            horizons[spec.name] = {
                "families": list(state.families),
                "temperature": spec.temperature,
                "bandit": {
                    "probabilities": dict(zip(state.families, probabilities, strict=True)),
                    "updates": state.bandit.t,
                    "in_blend": state.bandit.t >= warm_after,
                },
                "correlation": state.corr.correlation().tolist() if state.families else [],
            }
        self.published = {"method": self.config.method, "horizons": horizons}

    def weights_view(self) -> dict[str, Any]:
        """Current weights per horizon: the bandit's distribution, the pooled correlation, and
        every symbol's last ridge / bandit / final weights. Safe to call from another thread."""
        published, last = self.published, self.last_weights
        horizons = {}
        for name, summary in published["horizons"].items():
            symbols = {
                sym: {
                    part: dict(zip(rows[0], rows[n], strict=True))
                    for n, part in enumerate(("ridge", "bandit", "final"), start=1)
                }
                for sym, rows in sorted(last.get(name, {}).items())
            }
            horizons[name] = {**summary, "symbols": symbols}
        return {"method": published["method"], "horizons": horizons}

    def status(self) -> dict[str, Any]:
        return {
            **self.counters,
            "symbols": len(self.market),
            "pending_outcomes": self.outcomes.pending_count(),
            "unattributed_fills": self.outcomes.unattributed,
            "bandit": {s.name: self.horizons[s.name].bandit.t for s in self.specs},
        }

    # -- snapshot --------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Everything but the tick-local buffer (always empty between ticks)."""
        return orjson.dumps(
            {
                "version": SNAPSHOT_VERSION,
                "market": {sym: s.to_dict() for sym, s in sorted(self.market.items())},
                "horizons": {
                    name: {"families": st.families, "corr": st.corr.to_dict(), "bandit": st.bandit.to_dict()}
                    for name, st in self.horizons.items()
                },
                "alpha_abs": self.alpha_abs,
                "outcomes": self.outcomes.to_dict(),
                "last_weights": self.last_weights,
                "counters": self.counters,
            }
        )

    def restore(self, data: bytes | None) -> None:
        self.reset()
        if data is None:
            return
        state = orjson.loads(data)
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"blender snapshot version {state.get('version')} != {SNAPSHOT_VERSION}")
        bandit_cfg = self.config.bandit
        self.market = {sym: MarketStats.from_dict(d) for sym, d in state["market"].items()}
        for name, h in state["horizons"].items():
            if name not in self.horizons:
                continue
            self.horizons[name] = HorizonState(
                list(h["families"]),
                RollingCorrelation.from_dict(h["corr"]),
                Exp3IX.from_dict(
                    h["bandit"], bandit_cfg.gamma, bandit_cfg.eta_max, bandit_cfg.reward_clip_bps
                ),
            )
        self.alpha_abs = state["alpha_abs"]
        self.outcomes = OutcomeBook.from_dict(state["outcomes"])
        self.last_weights = {
            s.name: {
                sym: (tuple(rows[0]), rows[1], rows[2], rows[3])
                for sym, rows in state["last_weights"].get(s.name, {}).items()
            }
            for s in self.specs
        }
        self.counters.update(state["counters"])
        self._publish()


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))
