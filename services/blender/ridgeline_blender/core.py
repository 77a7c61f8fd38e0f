"""The blender's pure core: bars, predictions and fills in; one auditable Signal per symbol out.

Per tick: bars update each symbol's market statistics and mature pending outcomes (which update
the bandits); predictions are laid out as they arrive (:mod:`.grid`); at the tick's end, for all
symbols of the tick at once, each horizon's pooled correlation is updated and its ridge
risk-parity weights are solved, tempered and mixed with the bandit's (:mod:`.blend`, every fully
active horizon in one stacked pass), then each symbol's horizons are costed and arbitrated (or
stacked) and its Signal built (:mod:`.outgoing`). Per-tick work is done once per tick, not per
symbol; the figures are bit-identical to the one-at-a-time code (tests/unit/blender/
reference_core.py).

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

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from ridgeline_blender import outgoing
from ridgeline_blender.arbitration import HorizonFigures, arbitrate, decay_function, sign, stack
from ridgeline_blender.bandit import Exp3IX
from ridgeline_blender.blend import (
    BlendParams,
    HorizonBlock,
    HorizonInputs,
    TickBlend,
    WeightRows,
    blend_horizon,
    blend_stacked,
    stackable,
)
from ridgeline_blender.config import BlenderConfig
from ridgeline_blender.costs import HorizonCosts
from ridgeline_blender.grid import EntryGrid
from ridgeline_blender.outcomes import Fill, LazyAttributions, OutcomeBook, Realised, SignalRecord
from ridgeline_blender.ridge import BoolArray, FloatArray, RollingCorrelation, correlations
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.intervals import minutes_to_bars, parse_minutes
from ridgeline_shared.market import CostModel, MarketStats
from ridgeline_shared.messages import (
    Bar,
    Decision,
    Execution,
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
    # sqrt(bars): sigma_h = sigma_1 x root_bars (costs.sigma_horizon_bps).
    root_bars: float
    # sqrt(minutes / score_reference_minutes): the horizon penalty of arbitration.horizon_score.
    penalty: float

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


# symbol -> the blend of the last tick it was in, and its row there.
LastWeights = dict[str, tuple[TickBlend, int]]
# A message's entries: its row in the tick's EntryGrid, or grouped by configured horizon.
Entries = int | dict[str, list[ModelPrediction]]
Batch = list[tuple[str, tuple[Predictions, Entries]]]
# One horizon's spec and block parts, as _signal reads them for every row of the tick.
Column = tuple[
    HorizonSpec, list[bool], list[float], list[float], tuple[str, ...], list[float], list[float], list[float]
]
# One horizon's (symbols x families) arrays: active, ic, score, z, confidence.
Table = tuple[BoolArray, FloatArray, FloatArray, FloatArray, FloatArray]


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
            bars = minutes_to_bars(name, interval, session_minutes)
            self.specs.append(
                HorizonSpec(
                    name,
                    minutes,
                    bars,
                    temperature.get(minutes, config.default_temperature),
                    reserve.get(minutes, 0.0),
                    math.sqrt(bars),
                    math.sqrt(minutes / config.score_reference_minutes),
                )
            )
        if len({s.minutes for s in self.specs}) != len(self.specs):
            raise ValueError(f"duplicate horizons in {list(horizons)}")
        self._by_minutes = {s.minutes: s for s in self.specs}
        self._names: dict[str, str | None] = {}
        self._deltas = {s.name: s.delta for s in self.specs}
        self._five = next((s for s in self.specs if s.minutes == 5), min(self.specs, key=lambda s: s.minutes))
        self._five_index = self.specs.index(self._five)
        self.cost_model = CostModel(config.cost.k1, config.cost.k2, config.cost.k3)
        self._decay = decay_function(config.stacking)
        # Everything below depends on configuration only: computed once, not per message.
        self._costs = HorizonCosts(
            self.cost_model,
            interval_minutes=self.interval_minutes,
            horizon_minutes=[s.minutes for s in self.specs],
            session_bars=self.session_bars,
            planned_notional=config.cost.planned_notional,
        )
        self._root_five = math.sqrt(5.0 / self.interval_minutes)
        self._allowed = frozenset(config.families)
        self._intervals_ok = {interval}
        # ewm_update / ewm_mean's a = 2 / (span + 1) and 1 - a.
        self._ewm_rate = 2.0 / (config.alpha_abs_span + 1.0)
        self._ewm_decay = 1.0 - self._ewm_rate
        self._retention = timedelta(minutes=self.interval_minutes * config.signal_retention_bars)
        # A tick's blend is let go (TickBlend.single) once its records have expired everywhere
        # they could: a signal's record lives signal_retention_bars bars, a tick is at least one.
        self._keep_ticks = config.signal_retention_bars + 2
        self._params = BlendParams(config.ridge_lambda, config.cost_lambda, config.bandit.ridge_share)
        # Whether Signals can be built without validation at all (outgoing.can_trust).
        self._trusted = outgoing.can_trust([s.name for s in self.specs])
        self._batch: dict[str, tuple[Predictions, Entries]] = {}
        self._grid: EntryGrid | None = None
        self.reset()

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        self.market: dict[str, MarketStats] = {}
        self.horizons: dict[str, HorizonState] = {
            s.name: self._new_horizon(sorted(self.config.families)) for s in self.specs
        }
        self.alpha_abs: dict[str, dict[str, list[float]]] = {}
        self.outcomes = OutcomeBook()
        # symbol -> weights as last used (its last tick's blend and row). Replaced (copy-on-write)
        # at each tick's end, as is ``published``, so the HTTP thread reading them never sees a
        # structure being mutated.
        self.last_weights: LastWeights = {}
        # The blends of the last ticks and their (symbol, event time) rows, oldest first.
        self._ticks: deque[tuple[TickBlend, list[tuple[str, datetime]]]] = deque()
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
        self._grid = None
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
        self._grid = None
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
        if interval in self._intervals_ok:
            return
        if parse_minutes(interval, self.session_minutes) != self.interval_minutes:
            raise ValueError(f"{what} interval {interval} differs from the configured {self.interval}")
        if len(self._intervals_ok) < 16:
            self._intervals_ok.add(interval)

    def on_bar(self, bar: Bar) -> list[Realised]:
        """Update the symbol's statistics, then realise the outcomes whose horizon elapsed."""
        self._check_interval(bar.interval, "bar of " + bar.symbol)
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
        self._check_interval(predictions.interval, "predictions of " + predictions.symbol)
        grouped: dict[str, list[ModelPrediction]] = {}
        seen: set[tuple[str, str]] = set()
        allowed = self._allowed
        names = self._names
        for entry in predictions.entries:
            horizon = entry.horizon
            name = names[horizon] if horizon in names else self._horizon_name(horizon)
            if name is None or (allowed and entry.family not in allowed):
                continue
            if (name, entry.family) in seen:
                raise ValueError(f"predictions of {predictions.symbol}: {entry.family} at {name} repeated")
            seen.add((name, entry.family))
            grouped.setdefault(name, []).append(entry)
        return grouped

    def add_predictions(self, predictions: Predictions) -> None:
        """Buffer until the tick's end (validated first, so a refused message changes nothing).

        Laid out at once in the tick's :class:`EntryGrid` when it can take the message (the
        steady state); otherwise grouped entry by entry (:meth:`parse_predictions`)."""
        self._check_interval(predictions.interval, "predictions of " + predictions.symbol)
        grid = self._grid if self._grid is not None else self._new_grid()
        placed = grid.add(predictions.entries) if grid is not None else None
        entries: Entries
        if placed is None:
            entries = self.parse_predictions(predictions)
            ignored = len(predictions.entries) - sum(len(v) for v in entries.values())
        else:
            entries, ignored = placed
        if predictions.symbol in self._batch:
            self.counters["duplicate_predictions"] += 1
        self._batch[predictions.symbol] = (predictions, entries)
        self.counters["ignored_entries"] += ignored

    def _new_grid(self) -> EntryGrid | None:
        """A grid for the current families, when every horizon has the same (non-empty) ones."""
        families = {tuple(state.families) for state in self.horizons.values()}
        if len(families) != 1 or not (shared := families.pop()):
            return None
        self._grid = EntryGrid([s.name for s in self.specs], shared, self._horizon_name, self._allowed)
        return self._grid

    # -- the tick --------------------------------------------------------------------------
    def end_tick(self) -> list[Signal]:
        """One Signal per symbol with predictions in the tick, sorted by symbol."""
        batch = sorted(self._batch.items())
        self._batch = {}
        grid = self._grid
        try:
            if not batch:
                self._publish()
                return []
            return self._end_tick(batch, grid)
        finally:
            if grid is not None:
                grid.clear()

    def _end_tick(self, batch: Batch, grid: EntryGrid | None) -> list[Signal]:
        self.counters["ticks"] += 1
        if not self.config.families:
            # Only grouped messages can hold a family the horizons lack (the grid takes none).
            grouped = [e for _, (_, e) in batch if not isinstance(e, int)]
            for spec in self.specs:
                found = {entry.family for g in grouped for entry in g.get(spec.name, ())}
                for family in sorted(found - set(self.horizons[spec.name].families)):
                    self._add_family(spec.name, family)
        markets = [self._market(sym, p.close) for sym, (p, _) in batch]
        if grid is not None and grid is self._grid and all(isinstance(e, int) for _, (_, e) in batch):
            grids = grid.arrays([e for _, (_, e) in batch if isinstance(e, int)])
            tables = [tuple(a[h] for a in grids) for h in range(len(self.specs))]
        else:
            tables = [self._grouped_table(spec.name, batch) for spec in self.specs]
        blocks = self._blend(batch, markets, tables)
        tick = TickBlend(
            {spec.name: block for spec, block in zip(self.specs, blocks, strict=True)},
            [m.sigma1 is not None for m in markets],
        )
        columns = [
            (
                spec,
                block.active,
                block.blended,
                block.confidence,
                block.families,
                block.ridge,
                block.bandit,
                block.final,
            )
            for spec, block in zip(self.specs, blocks, strict=True)
        ]
        trusted = self._trusted and all(
            len(b.families) <= outgoing.MAX_FAMILIES
            and outgoing.finite(b.ridge)
            and outgoing.finite(b.bandit)
            and outgoing.finite(b.final)
            and outgoing.finite(b.blended)
            and outgoing.finite(b.confidence)
            for b in blocks
        )
        signals = [
            self._signal(i, sym, preds, markets[i], columns, tick, trusted)
            for i, (sym, (preds, _)) in enumerate(batch)
        ]
        weights = dict(self.last_weights)
        for i, (sym, _) in enumerate(batch):
            weights[sym] = (tick, i)
        self._ticks.append((tick, [(sym, preds.event_time) for sym, (preds, _) in batch]))
        if len(self._ticks) > self._keep_ticks:
            self._retire(*self._ticks.popleft(), weights)
        self.last_weights = weights
        self.counters["signals"] += len(signals)
        self._publish()
        return signals

    def _retire(self, tick: TickBlend, rows: list[tuple[str, datetime]], weights: LastWeights) -> None:
        """Let an old tick's blend go: the symbols that have not ticked since still refer to it
        (their last weights, their last signals' records); they get their own row instead. The
        others' references are long gone (replaced, records expired), so this is cheap, and
        memory stays bounded by the symbols, not by the ticks they were last seen in."""
        for row, (sym, at) in enumerate(rows):
            ref = weights.get(sym)
            if ref is not None and ref[0] is tick:
                weights[sym] = (tick.single(row), 0)
            record = self.outcomes.signals.get(sym, {}).get(at)
            lazy = record.horizons if record is not None else None
            if record is not None and isinstance(lazy, LazyAttributions) and lazy.source is tick:
                record.horizons = lazy.resolved()

    def _market(self, symbol: str, price: float) -> _Market:
        """The symbol's sigma, spread, ADV and every horizon's cost, each computed once a tick."""
        stats, market = self._stats(symbol), self.market_config
        sigma1 = market.sigma_bps(stats)
        spread = market.spread_for(symbol, stats)
        adv = stats.adv_shares()
        return _Market(sigma1, spread, adv, price, self._costs.costs(spread, sigma1, price, adv))

    def _grouped_table(self, name: str, batch: Batch) -> Table:
        """One horizon's (symbols x families) arrays, entry by entry (any message, any families)."""
        families = self.horizons[name].families
        k = len(families)
        index = {f: j for j, f in enumerate(families)}
        zeros, nobody = [0.0] * k, [False] * k
        active_rows, ic_rows, score_rows, z_rows, conf_rows = [], [], [], [], []
        for _, (preds, entries) in batch:
            grouped = self.parse_predictions(preds) if isinstance(entries, int) else entries
            ic, z, score, conf, active = zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), nobody.copy()
            for e in grouped.get(name, ()):
                if not e.warming_up and e.zscore is not None:
                    j = index[e.family]
                    active[j] = True
                    ic[j], score[j], z[j], conf[j] = e.ic, e.score, e.zscore, e.confidence
            active_rows.append(active)
            ic_rows.append(ic)
            score_rows.append(score)
            z_rows.append(z)
            conf_rows.append(conf)
        n = len(batch)
        return (
            np.array(active_rows, dtype=bool).reshape(n, k),
            np.array(ic_rows, dtype=float).reshape(n, k),
            np.array(score_rows, dtype=float).reshape(n, k),
            np.array(z_rows, dtype=float).reshape(n, k),
            np.array(conf_rows, dtype=float).reshape(n, k),
        )

    def _blend(self, batch: Batch, markets: list[_Market], tables: list[Table]) -> list[HorizonBlock]:
        """Every horizon's weights, blended scores and confidences for every symbol of the tick.

        The correlation windows are pushed per horizon, their correlations computed in one pass;
        horizons where every family is active for every symbol (the steady state) are blended
        together in one stacked pass, any other one on its own (see :mod:`.blend`)."""
        warm_after = self.config.bandit.warm_start_updates
        shares = self._cost_shares(batch, markets)
        inputs = []
        for spec, (active, ic, score, z, conf), cost_shares in zip(self.specs, tables, shares, strict=True):
            state = self.horizons[spec.name]
            if state.families:
                state.corr.push(z, active)
            inputs.append(
                HorizonInputs(
                    families=tuple(state.families),
                    active=active,
                    ic=ic,
                    z=z,
                    scores=score,
                    conf=conf,
                    shares=np.array(cost_shares, dtype=float),
                    sigma=_NO_SIGMA,
                    temperature=spec.temperature,
                    bandit=state.bandit,
                    warm=state.bandit.t >= warm_after,
                )
            )
        sigmas = correlations([self.horizons[spec.name].corr for spec in self.specs])
        for inp, sigma in zip(inputs, sigmas, strict=True):
            inp.sigma = sigma
        blocks: list[HorizonBlock | None] = [None] * len(inputs)
        stacks: dict[int, list[int]] = {}
        for h, inp in enumerate(inputs):
            if stackable(inp):
                stacks.setdefault(len(inp.families), []).append(h)
            else:
                blocks[h] = blend_horizon(inp, self._params)
        for members in stacks.values():
            for h, block in zip(
                members, blend_stacked([inputs[h] for h in members], self._params), strict=True
            ):
                blocks[h] = block
        return [b for b in blocks if b is not None]

    def _cost_shares(self, batch: Batch, markets: list[_Market]) -> list[list[float]]:
        """``cost_share`` per horizon and symbol (:func:`cost_share` of :func:`ewm_mean`, inline)."""
        cap, decay = self.config.cost_share_cap, self._ewm_decay
        names = [spec.name for spec in self.specs]
        out: list[list[float]] = [[] for _ in names]
        no_history: dict[str, list[float]] = {}
        for (sym, _), m in zip(batch, markets, strict=True):
            history = self.alpha_abs.get(sym, no_history)
            for h, name in enumerate(names):
                cost, state = m.costs[h], history.get(name)
                if state is None or state[1] <= 0 or cost <= 0.0:
                    out[h].append(0.0)
                    continue
                mean = float(state[0] / (1.0 - decay ** state[1]))
                out[h].append(cap if mean <= 0.0 else min(cap, cost / mean))
        return out

    def _signal(
        self,
        i: int,
        symbol: str,
        preds: Predictions,
        m: _Market,
        columns: list[Column],
        tick: TickBlend,
        trusted: bool,
    ) -> Signal:
        """Row ``i`` of the tick: each horizon's figures, the decision across horizons, the record
        of the signal for the bandit, and the Signal itself (see :mod:`.outgoing`; ``trusted``:
        the tick's blocks are fit to build it directly)."""
        cfg = self.config
        # ewm_update inline: E|alpha_h| <- keep x E|alpha_h| + rate x |alpha_h|.
        rate, keep = self._ewm_rate, self._ewm_decay
        horizons: list[dict[str, Any]] = []
        figures: list[HorizonFigures] = []
        alpha_abs = self.alpha_abs.setdefault(symbol, {})
        sigma1 = m.sigma1 or 0.0
        known = m.sigma1 is not None
        spread = m.spread
        # The sum of every float figured here: finite, so none is NaN or infinite (outgoing).
        checked = sigma1 + spread + sum(m.costs)
        for (spec, active, blended_scores, confidences, families, ridge, bandit, final), cost in zip(
            columns, m.costs, strict=True
        ):
            eligible = known and active[i]
            sigma_h = sigma1 * spec.root_bars
            blended = blended_scores[i]
            alpha = blended * sigma_h if eligible else 0.0
            net = alpha - sign(alpha) * cost  # net_alpha
            reserve = spec.reserve_multiple * spread
            confidence = confidences[i] if eligible else 0.0
            score = net / spec.penalty  # horizon_score
            checked += sigma_h + alpha + net + score + reserve
            base = i * len(families)
            horizons.append(
                {
                    "horizon": spec.name,
                    "blended_score": blended,
                    "sigma_bps": sigma_h,
                    "alpha_bps": alpha,
                    "cost_bps": cost,
                    "net_bps": net,
                    "score": score,
                    "reserve_bps": reserve,
                    "confidence": confidence,
                    "weights": [
                        {"family": f, "ridge": ridge[at], "bandit": bandit[at], "final": final[at]}
                        for at, f in enumerate(families, base)
                    ],
                }
            )
            figures.append(
                HorizonFigures(spec.name, spec.minutes, alpha, cost, reserve, sigma_h, confidence, eligible)
            )
            if eligible:
                state = alpha_abs.get(spec.name)
                if state is None:
                    state = alpha_abs[spec.name] = [0.0, 0.0]
                state[0] = keep * state[0] + rate * abs(alpha)
                state[1] += 1.0
        if cfg.method == "stacking":
            choice = stack(figures, self._decay, cfg.score_reference_minutes)
        else:
            choice = arbitrate(figures, cfg.score_reference_minutes, cfg.arbitration_pick)
        decision = choice.decision
        self.counters[_COUNTER[decision]] += 1
        # The bandit's attributions of this signal are derived from the tick's blend if a fill
        # ever asks for them (TickBlend.attribution: the same shares, computed then).
        self.outcomes.record_signal(
            symbol, SignalRecord(preds.event_time, choice.horizon, LazyAttributions(tick, i)), self._retention
        )
        barrier = preds.barrier
        return outgoing.signal(
            {
                "event_time": preds.event_time,
                "trace_id": preds.trace_id,
                "trace": dict(preds.trace),
                "type": "signal",
                "symbol": symbol,
                "interval": preds.interval,
                "price": preds.close,
                "method": cfg.method,
                "horizons": horizons,
                "decision": decision,
                "chosen_horizon": choice.horizon,
                "alpha_bps": choice.alpha_bps,
                "expected_net_bps": choice.net_bps,
                "confidence": _unit(choice.confidence),
                "alpha_5m_bps": horizons[self._five_index]["alpha_bps"],
                "p_peak": barrier.p_peak if barrier else None,
                "p_valley": barrier.p_valley if barrier else None,
                "spread_bps": spread,
                "sigma_bps": choice.sigma_bps if choice.horizon is not None else sigma1 * self._root_five,
            },
            checked,
            trusted and sigma1 >= 0.0 and spread >= 0.0 and min(m.costs) >= 0.0,
        )

    # -- views -----------------------------------------------------------------------------
    def _publish(self) -> None:
        """The per-horizon summary behind GET /weights, replaced whole at each tick's end. It holds
        the bandits' and correlations' current arrays (read-only, replaced rather than changed);
        :meth:`weights_view` turns them into lists when asked, not every tick."""
        warm_after = self.config.bandit.warm_start_updates
        horizons: dict[str, Any] = {}
        for spec in self.specs:
            state = self.horizons[spec.name]
            horizons[spec.name] = (
                tuple(state.families),
                spec.temperature,
                state.bandit.probabilities(),
                state.bandit.t,
                state.bandit.t >= warm_after,
                state.corr.correlation(),
            )
        self.published = {"method": self.config.method, "horizons": horizons}

    def weights_view(self) -> dict[str, Any]:
        """Current weights per horizon: the bandit's distribution, the pooled correlation, and
        every symbol's last ridge / bandit / final weights. Safe to call from another thread."""
        published, last = self.published, self.last_weights
        horizons = {}
        ordered = sorted(last.items())
        for name, (families, temperature, probabilities, updates, in_blend, corr) in published[
            "horizons"
        ].items():
            symbols = {}
            for sym, (tick, row) in ordered:
                rows = tick.weights(row, name)
                if rows is not None:
                    symbols[sym] = {
                        part: dict(zip(rows[0], rows[n], strict=True))
                        for n, part in enumerate(("ridge", "bandit", "final"), start=1)
                    }
            horizons[name] = {
                "families": list(families),
                "temperature": temperature,
                "bandit": {
                    "probabilities": dict(zip(families, probabilities.tolist(), strict=True)),
                    "updates": updates,
                    "in_blend": in_blend,
                },
                "correlation": corr.tolist() if families else [],
                "symbols": symbols,
            }
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
    def _last_weights_rows(self) -> dict[str, dict[str, WeightRows]]:
        """horizon -> symbol -> (families, ridge, bandit, final): the snapshot's form."""
        out: dict[str, dict[str, WeightRows]] = {}
        for spec in self.specs:
            rows = out[spec.name] = {}
            for sym, (tick, row) in self.last_weights.items():
                weights = tick.weights(row, spec.name)
                if weights is not None:
                    rows[sym] = weights
        return out

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
                "last_weights": self._last_weights_rows(),
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
        self.last_weights = _restored_weights(state["last_weights"], [s.name for s in self.specs])
        self.counters.update(state["counters"])
        self._publish()


def _restored_weights(data: dict[str, dict[str, list[Any]]], horizons: list[str]) -> LastWeights:
    """The snapshot's horizon -> symbol -> rows, as one single-row TickBlend per symbol."""
    blocks: dict[str, dict[str, HorizonBlock]] = {}
    for name in horizons:
        for sym, (families, ridge, bandit, final) in data.get(name, {}).items():
            blocks.setdefault(sym, {})[name] = HorizonBlock(
                tuple(families), ridge, bandit, final, [], [], [], [], []
            )
    return {sym: (TickBlend(by_horizon, []), 0) for sym, by_horizon in blocks.items()}


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))


_COUNTER = {d: d.value.lower() for d in Decision}
_NO_SIGMA = np.zeros((0, 0))
