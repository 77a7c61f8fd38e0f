"""The predictor's pure core: bars in, one Predictions message per symbol and bar out.

Per tick (all bars sharing one event time):

1. append every bar to its symbol's buffer (one vectorised write);
2. realised returns: for each horizon, the return since the bar ``h`` bars ago (only if that bar
   is exactly ``h`` intervals earlier: a gap voids the sample), standardised per (symbol, horizon);
3. compute the features of every symbol whose buffer is long enough, in one array;
4. run each model once over all those rows (one onnxruntime call per model, not per symbol;
   a row gets the same bits in any batch, see ``registry.at_least_two_rows``);
5. z-score the raw predictions against their (symbol, model) windows, all models at once;
6. mature the predictions made ``h`` bars ago into every model's IC and stability windows at
   once (:class:`TrackerBank`); IC and stability change only when a window refreshes;
7. confidence and calibrated score (MATH.md s.1); one message per symbol, sorted by symbol,
   built without re-validation (:mod:`outgoing`).

State is laid out as arrays indexed by (symbol slot, model column), so the per-tick work is a few
vectorised operations whatever the number of symbols: the cost per tick is a fixed number of numpy
and onnxruntime calls plus, per symbol, the message objects. No wall clock, no randomness: the output
is a function of the models, the config and the bars. State that a model's version does not
explain (its standardiser column, pending predictions, IC window) is reset when a different
version of that model is loaded, so a new model warms up afresh.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ridgeline_predictor import confidence as conf
from ridgeline_predictor import outgoing
from ridgeline_predictor.buffer import BarBuffer
from ridgeline_predictor.composed import Composition, compose_models
from ridgeline_predictor.config import PredictorConfig
from ridgeline_predictor.features import BPS, CLOSE, lookback_bars, window_features
from ridgeline_predictor.pending import PendingRings
from ridgeline_predictor.registry import LoadedModel, ModelRegistry, at_least_two_rows
from ridgeline_predictor.standardise import RollingStandardiser
from ridgeline_predictor.state_codec import pack, unpack
from ridgeline_predictor.tracking import ModelTracker, TrackerBank
from ridgeline_shared.intervals import minutes_to_bars, parse_minutes
from ridgeline_shared.messages import Bar, Predictions
from ridgeline_shared.messages.prediction import BarrierPrediction

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SNAPSHOT_VERSION = 2
Key = tuple[str, str, int]  # model name, version, horizon bars: what a model's state belongs to
EntryModel = tuple[str, str, str, float, float]  # horizon, family, version, IC, stability


def epoch_seconds(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(seconds=1)


class BarRejectedError(ValueError):
    """A bar this service cannot take: it conflicts with another bar of its symbol and tick."""


@dataclass
class _Plan:
    """Layout derived from the registry, rebuilt on every model reload."""

    features: tuple[str, ...]
    lookback: int
    feature_cols: dict[str, I64 | None]  # model -> its feature columns (None: the full row)
    models: list[LoadedModel]  # regressor columns, by (horizon minutes, family)
    keys: list[Key]
    horizons: list[int]  # distinct horizon bars, ascending
    horizon_bars: I64  # the same as an array
    groups: list[I64]  # per horizon: the model columns of that horizon
    group_of: I64  # per model column: its horizon group
    horizon_of: I64  # per model column: its horizon in bars
    tau: F64  # freshness time constant per model column (s)
    prior_ic: list[float]
    peak: LoadedModel | None
    valley: LoadedModel | None
    outputs: list[tuple[int, LoadedModel]]  # output column of every model: regressors, peak, valley
    composition: Composition | None  # the models run as one graph
    composed_cols: I64  # their output columns
    alone: list[tuple[int, LoadedModel]]  # the models run one by one (all of them without it)


@dataclass
class Counters:
    ticks: int = 0
    bars: int = 0
    ignored_interval: int = 0
    stale: int = 0
    messages: int = 0
    warming_entries: int = 0
    no_feature_bars: int = 0
    reset_models: list[str] = field(default_factory=list)


class PredictorCore:
    def __init__(
        self, config: PredictorConfig, interval: str, session_minutes: int, registry: ModelRegistry
    ) -> None:
        self.config = config
        self.interval = interval
        self.session_minutes = session_minutes
        self.interval_minutes = parse_minutes(interval, session_minutes)
        self.step_s = self.interval_minutes * 60
        self.session_bars = minutes_to_bars("1d", interval, session_minutes)
        self.z_window = max(config.z_min_samples, round(config.z_window_sessions * self.session_bars))
        self.registry = registry
        self.plan = self._plan(registry)
        self.pending: dict[str, Bar] = {}
        self.counters = Counters()
        self.reset()

    # -- layout ------------------------------------------------------------------------------
    def _plan(self, registry: ModelRegistry) -> _Plan:
        features = registry.feature_names
        feature_cols: dict[str, I64 | None] = {}
        for model in registry.models.values():
            names = tuple(model.manifest.features)
            feature_cols[model.name] = (
                None if names == features else np.array([features.index(n) for n in names], dtype=np.int64)
            )
        minutes = {
            m.name: parse_minutes(m.manifest.horizon, self.session_minutes) for m in registry.regressors
        }
        models = sorted(registry.regressors, key=lambda m: (minutes[m.name], m.manifest.family))
        horizons = sorted({m.horizon_bars for m in models})
        groups = [
            np.array([j for j, m in enumerate(models) if m.horizon_bars == h], dtype=np.int64)
            for h in horizons
        ]
        group_of = np.zeros(len(models), dtype=np.int64)
        for gi, group in enumerate(groups):
            group_of[group] = gi
        peak, valley = registry.barrier("barrier_peak"), registry.barrier("barrier_valley")
        outputs = [(j, m) for j, m in enumerate([*models, peak, valley]) if m is not None]
        composition = None
        if self.config.onnx_compose:
            composition = compose_models(outputs, features, registry.session_settings)
        return _Plan(
            features=features,
            lookback=lookback_bars(features, self.interval_minutes) if features else 2,
            feature_cols=feature_cols,
            models=models,
            keys=[(m.name, m.version, m.horizon_bars) for m in models],
            horizons=horizons,
            horizon_bars=np.array(horizons, dtype=np.int64),
            groups=groups,
            group_of=group_of,
            horizon_of=np.array([m.horizon_bars for m in models], dtype=np.int64),
            tau=np.array([conf.tau_seconds(minutes[m.name], self.config.tau_5m_seconds) for m in models]),
            prior_ic=[m.manifest.oos_ic for m in models],
            peak=peak,
            valley=valley,
            outputs=outputs,
            composition=composition,
            composed_cols=np.array([] if composition is None else composition.columns, dtype=np.int64),
            alone=[(j, m) for j, m in outputs if composition is None or j not in composition.columns],
        )

    def _capacity(self) -> int:
        return max(self.plan.lookback, self.session_bars, max(self.plan.horizons, default=1) + 1, 2)

    def ic_window(self, horizon_bars: int) -> int:
        """Matured pairs in a model's IC window: ``ic_window`` at one bar, growing with the square
        root of the horizon (overlapping long-horizon returns carry less information per pair)."""
        cfg = self.config
        scale = math.ceil(math.sqrt(horizon_bars)) if cfg.ic_window_scales_with_horizon else 1
        return min(cfg.ic_window_max, cfg.ic_window * scale)

    def _tracker(self, horizon_bars: int) -> ModelTracker:
        window = self.ic_window(horizon_bars)
        return ModelTracker(window, max(1, window // self.config.ic_refreshes_per_window))

    def _fresh_state(self, slots: int) -> None:
        cfg, plan = self.config, self.plan
        self.z = RollingStandardiser(
            self.z_window, cfg.z_min_samples, cfg.z_clip, np.float32, slots, len(plan.models)
        )
        self.realised = RollingStandardiser(
            self.z_window, cfg.z_min_samples, cfg.z_clip, np.float64, slots, len(plan.horizons)
        )
        self.pending_rings = PendingRings(plan.horizons, plan.groups, slots)
        self._set_trackers([self._tracker(m.horizon_bars) for m in plan.models])

    def _set_trackers(self, trackers: list[ModelTracker]) -> None:
        self.bank = TrackerBank.of(trackers)
        self.ic_factor = np.zeros(len(trackers))
        self.stability_factor = np.zeros(len(trackers))
        self._confidence_factors(range(len(trackers)))

    def _confidence_factors(self, columns: Iterable[int]) -> None:
        """IC and stability of the given model columns: they change only when a tracker refreshes."""
        cfg, bank = self.config, self.bank
        self._entry_models: list[EntryModel] | None = None  # rebuilt by _messages
        for j in columns:
            prior = self.plan.prior_ic[j]
            n0, n_min = cfg.ic_prior_samples, cfg.ic_min_samples
            self.ic_factor[j] = conf.ic_estimate(*bank.ic(j), prior, n0, n_min)
            self.stability_factor[j] = conf.stability(*bank.mse(j), prior, n0, n_min)

    def reset(self) -> None:
        self.buffer = BarBuffer(self._capacity())
        self.pending = {}
        self.counters = Counters()
        self.last_features: tuple[list[str], F64] = ([], np.zeros((0, len(self.plan.features))))
        self._fresh_state(0)

    def _adopt(
        self,
        keys: list[Key],
        horizons: list[int],
        z: RollingStandardiser | None,
        realised: RollingStandardiser | None,
        pend_raw: list[F64],
        pend_z: list[F64],
        trackers: list[ModelTracker],
    ) -> list[str]:
        """Carry state laid out for ``keys`` over to the current plan; returns the reset models."""
        plan = self.plan
        slots = len(self.buffer)
        old = {key: j for j, key in enumerate(keys)}
        sources = [old.get(key) for key in plan.keys]
        reset = [key[0] for key, src in zip(plan.keys, sources, strict=True) if src is None]
        self._fresh_state(slots)
        if z is not None:
            z.ensure_slots(slots)
            self.z = z.remap(sources)
        if realised is not None:
            realised.ensure_slots(slots)
            self.realised = realised.remap(
                [horizons.index(h) if h in horizons else None for h in plan.horizons]
            )
        old_pos = {}  # model column -> (horizon group, position in group) in the old layout
        for gi, h in enumerate(horizons):
            for k, j in enumerate(j for j, key in enumerate(keys) if key[2] == h):
                old_pos[j] = (gi, k)
        fresh = self.bank.trackers()
        for gi, group in enumerate(plan.groups):
            new_raw, new_z = self.pending_rings.group(gi)
            for k, j in enumerate(group.tolist()):
                src = sources[j]
                if src is None:
                    continue
                ogi, ok = old_pos[src]
                rows = min(slots, pend_raw[ogi].shape[0])
                new_raw[:rows, k] = pend_raw[ogi][:rows, ok]
                new_z[:rows, k] = pend_z[ogi][:rows, ok]
                fresh[j] = trackers[src]
        self._set_trackers(fresh)
        return reset

    def set_registry(self, registry: ModelRegistry) -> None:
        """Swap in a new set of models between ticks; state of unchanged versions is kept."""
        keys, horizons = self.plan.keys, self.plan.horizons
        pend = [self.pending_rings.group(gi) for gi in range(len(horizons))]
        trackers = self.bank.trackers()
        self.registry = registry
        self.plan = self._plan(registry)
        if self._capacity() != self.buffer.capacity:
            self.buffer.resize(self._capacity())
        self._adopt(
            keys, horizons, self.z, self.realised, [r for r, _ in pend], [z for _, z in pend], trackers
        )

    def _ensure_slots(self, slots: int) -> None:
        self.z.ensure_slots(slots)
        self.realised.ensure_slots(slots)
        self.pending_rings.ensure_slots(slots)

    # -- input -------------------------------------------------------------------------------
    def add(self, bar: Bar) -> bool:
        """Queue a bar for this tick; False if ignored: another interval, or not after the
        symbol's last buffered bar (already seen, e.g. replayed over a rebuilt buffer).

        Raises :class:`BarRejectedError` without changing state for a conflicting second bar of a
        symbol in the same tick.
        """
        if bar.interval != self.interval:
            self.counters.ignored_interval += 1
            return False
        queued = self.pending.get(bar.symbol)
        if queued is not None:
            if queued == bar:
                self.counters.stale += 1
                return False
            raise BarRejectedError(f"a second, different bar of {bar.symbol} at {bar.event_time.isoformat()}")
        slot = self.buffer.index.get(bar.symbol)
        if slot is not None:
            last = self.buffer.last_time(slot)
            if last is not None and epoch_seconds(bar.event_time) <= last:
                # Already buffered (a replay over a rebuilt buffer) or late: idempotent skip.
                self.counters.stale += 1
                return False
        self.pending[bar.symbol] = bar
        return True

    def replay(self, bars: Iterable[Bar]) -> int:
        """Rebuild state from past bars (e.g. the retained stream), discarding the outputs."""
        used = 0
        groups: dict[datetime, list[Bar]] = {}
        for bar in bars:
            groups.setdefault(bar.event_time, []).append(bar)
        for moment in sorted(groups):
            for bar in groups[moment]:
                try:
                    used += int(self.add(bar))
                except BarRejectedError:
                    continue
            self.tick()
        return used

    # -- the tick ----------------------------------------------------------------------------
    def tick(self) -> list[Predictions]:
        if not self.pending:
            return []
        bars = [self.pending[s] for s in sorted(self.pending)]
        self.pending = {}
        plan, cfg = self.plan, self.config
        slots = np.array([self.buffer.slot(b.symbol) for b in bars], dtype=np.int64)
        self._ensure_slots(len(self.buffer))
        values = np.array([[b.open, b.high, b.low, b.close, b.volume] for b in bars], dtype=np.float64)
        times = np.array([epoch_seconds(b.event_time) for b in bars], dtype=np.int64)
        self.buffer.append(slots, values, times)
        count = self.buffer.count[slots]
        n = len(bars)

        # Realised returns over each horizon (only from a bar exactly h intervals earlier: a gap
        # voids the sample), and their z-scores per (symbol, horizon).
        h = plan.horizon_bars
        then_close, then_time = self.buffer.back(slots, h)
        valid = (count[:, None] > h[None, :]) & (times[:, None] - then_time == h[None, :] * self.step_s)
        ratio = values[:, CLOSE, None] / np.where(valid, then_close, 1.0)
        r = np.where(valid, np.log(ratio) * BPS, np.nan)
        zr = self.realised.update(slots, r)

        # Features and one inference call per model over every ready symbol.
        ready = np.nonzero(count >= plan.lookback)[0]
        X = np.zeros((0, len(plan.features)))
        if ready.size and plan.features:
            X = window_features(
                self.buffer.windows(slots[ready], plan.lookback), plan.features, self.interval_minutes
            )
        self.last_features = ([bars[i].symbol for i in ready], X)
        out = self._infer(X, ready, n)
        raw = np.ascontiguousarray(out[:, : len(plan.models)])

        z = self.z.update(slots, raw)
        self._mature(slots, count, raw, z, r, zr)

        age = np.array([(b.received_at - b.event_time).total_seconds() for b in bars], dtype=np.float64)
        fresh = np.exp(-np.maximum(age, 0.0)[:, None] / plan.tau[None, :])
        cap = conf.capacity(
            self.buffer.dollar_volume(slots, self.session_bars), cfg.kappa, cfg.planned_notional
        )
        confidence = np.clip(
            self.ic_factor[None, :] * self.stability_factor[None, :] * fresh * cap[:, None], 0.0, 1.0
        )
        warming = ~np.isfinite(z)
        score = np.where(warming, 0.0, np.where(warming, 0.0, z) * confidence)

        self.counters.ticks += 1
        self.counters.bars += n
        self.counters.no_feature_bars += n - int(ready.size)
        self.counters.warming_entries += int(np.count_nonzero(warming & np.isfinite(raw)))
        messages = self._messages(
            bars, raw, z, warming, fresh, cap, confidence, score, out[:, len(plan.models) :]
        )
        self.counters.messages += len(messages)
        return messages

    def _messages(
        self,
        bars: list[Bar],
        raw: F64,
        z: F64,
        warming: NDArray[np.bool_],
        fresh: F64,
        cap: F64,
        confidence: F64,
        score: F64,
        barrier_p: F64,
    ) -> list[Predictions]:
        """One message per bar, from rows per bar and columns per model (see :mod:`outgoing`)."""
        zscore = z.astype(object)
        zscore[warming] = None
        if self._entry_models is None:  # changes only when a tracker refreshes
            self._entry_models = [
                (m.manifest.horizon, m.manifest.family, m.version, ic, stab)
                for m, ic, stab in zip(
                    self.plan.models, self.ic_factor.tolist(), self.stability_factor.tolist(), strict=True
                )
            ]
        return outgoing.build(
            bars,
            self.interval,
            self._entry_models,
            raw.tolist(),
            zscore.tolist(),
            warming.tolist(),
            fresh.tolist(),
            cap.tolist(),
            confidence.tolist(),
            score.tolist(),
            self._barriers(barrier_p),
        )

    def _infer(self, X: F64, ready: I64, n: int) -> F64:
        """``(n, models + 2)``: every regressor column, then P(peak) and P(valley); NaN for rows
        without features, a missing or failed model, and non-finite outputs (counted per model).
        One session run per tick for the composed models (:mod:`composed`), one per other model,
        every run over every ready row; the same bits as :meth:`LoadedModel.run` per model."""
        plan = self.plan
        out = np.full((n, len(plan.models) + 2), np.nan)
        if ready.size == 0:
            return out
        X32 = at_least_two_rows(X.astype(np.float32))
        block = out if ready.size == n else np.full((ready.size, out.shape[1]), np.nan)
        ran = []  # (column, model) of every model that returned outputs
        alone = plan.outputs
        composition = plan.composition
        if composition is not None and composition.active:
            values = composition.run(X32)
            if values is not None:  # else (counted there) every model runs on its own from now on
                block[:, plan.composed_cols] = values[: ready.size]
                ran = list(composition.members)
                alone = plan.alone
        for j, model in alone:
            cols = plan.feature_cols[model.name]
            values = model.outputs(X32 if cols is None else np.ascontiguousarray(X32[:, cols]))
            if values is not None:
                block[:, j] = values[: ready.size]
                ran.append((j, model))
        finite = np.isfinite(block)
        if not finite.all():
            bad = np.count_nonzero(~finite, axis=0)
            for j, model in ran:
                model.count_nonfinite(int(bad[j]))
            block[~finite] = np.nan
        if block is not out:
            out[ready] = block
        return out

    def _barriers(self, p: F64) -> list[BarrierPrediction | None]:
        """Per row, P(peak) and P(valley) clipped to [0, 1], or None without both."""
        plan = self.plan
        if plan.peak is None or plan.valley is None:
            return [None] * p.shape[0]
        version = f"{plan.peak.version}/{plan.valley.version}"
        return [
            None if math.isnan(peak) or math.isnan(valley) else outgoing.barrier(peak, valley, version)
            for peak, valley in np.clip(p, 0.0, 1.0).tolist()
        ]

    def _mature(self, slots: I64, count: I64, raw: F64, z: F64, r: F64, zr: F64) -> None:
        """Pair each model's prediction of ``h`` bars ago with the return realised since, then
        store this bar's predictions in the ring (read before write: same position)."""
        plan = self.plan
        past_raw, past_z = self.pending_rings.exchange(slots, count, raw, z)
        matured = count[:, None] > plan.horizon_of[None, :]
        refreshed = self.bank.add(past_raw, r[:, plan.group_of], past_z, zr[:, plan.group_of], matured)
        if refreshed.size:
            self._confidence_factors(refreshed.tolist())

    # -- snapshot ----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        n = len(self.buffer)
        arrays: dict[str, np.ndarray[Any, Any]] = {
            "buf.data": self.buffer.data[:n],
            "buf.times": self.buffer.times[:n],
            "buf.count": self.buffer.count[:n],
        }
        arrays.update({f"z.{k}": v for k, v in self.z.export(n).items()})
        arrays.update({f"real.{k}": v for k, v in self.realised.export(n).items()})
        for gi in range(len(self.plan.horizons)):
            pend_raw, pend_z = self.pending_rings.group(gi)
            arrays[f"pend.{gi}.raw"] = pend_raw[:n]
            arrays[f"pend.{gi}.z"] = pend_z[:n]
        for j in range(len(self.bank)):
            arrays.update({f"t.{j}.{k}": v for k, v in self.bank.export(j).items()})
        meta = {
            "version": SNAPSHOT_VERSION,
            "interval": self.interval,
            "symbols": list(self.buffer.symbols),
            "capacity": self.buffer.capacity,
            "z_window": self.z_window,
            "horizons": self.plan.horizons,
            "models": [list(key) for key in self.plan.keys],
            "ic_windows": self.bank.windows.tolist(),
        }
        return pack(meta, arrays)

    def restore(self, data: bytes | None) -> None:
        """Restore a snapshot; state of models whose version changed since is reset (reported)."""
        self.reset()
        if data is None:
            return
        meta, arrays = unpack(data)
        if meta.get("version") != SNAPSHOT_VERSION or meta.get("interval") != self.interval:
            raise ValueError(
                f"snapshot version {meta.get('version')} at interval {meta.get('interval')} cannot be "
                f"restored by version {SNAPSHOT_VERSION} at {self.interval}"
            )
        buffer = BarBuffer(int(meta["capacity"]))
        for symbol in meta["symbols"]:
            buffer.slot(symbol)
        buffer.load(arrays["buf.data"], arrays["buf.times"], arrays["buf.count"])
        buffer.resize(self._capacity())
        self.buffer = buffer
        keys: list[Key] = [(str(k[0]), str(k[1]), int(k[2])) for k in meta["models"]]
        horizons = [int(h) for h in meta["horizons"]]
        z = realised = None
        if meta["z_window"] == self.z_window:
            cfg = self.config
            z = RollingStandardiser(self.z_window, cfg.z_min_samples, cfg.z_clip, np.float32)
            z.load(_prefixed(arrays, "z."))
            realised = RollingStandardiser(self.z_window, cfg.z_min_samples, cfg.z_clip, np.float64)
            realised.load(_prefixed(arrays, "real."))
        else:
            keys = []  # a different window: every standardiser restarts
        trackers = []
        for j, (key, window) in enumerate(zip(keys, meta["ic_windows"], strict=False)):
            tracker = ModelTracker(int(window), max(1, int(window) // self.config.ic_refreshes_per_window))
            tracker.load(_prefixed(arrays, f"t.{j}."))
            if window != self.ic_window(key[2]):
                keys[j] = (key[0], "", key[2])  # a different IC window: treat as a new model
            trackers.append(tracker)
        pend_raw = [arrays[f"pend.{gi}.raw"] for gi in range(len(horizons))]
        pend_z = [arrays[f"pend.{gi}.z"] for gi in range(len(horizons))]
        reset = self._adopt(keys, horizons, z, realised, pend_raw, pend_z, trackers)
        self.counters.reset_models = reset

    # -- observability -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        c = self.counters
        models = {}
        for j, model in enumerate(self.plan.models):
            ic, n_ic = self.bank.ic(j)
            models[model.name] = {
                "version": model.version,
                "rolling_ic": round(ic, 6),
                "ic_pairs": n_ic,
                "ic_window": int(self.bank.windows[j]),
            }
        return {
            "symbols": len(self.buffer),
            "ticks": c.ticks,
            "bars": c.bars,
            "messages": c.messages,
            "ignored_other_interval": c.ignored_interval,
            "ignored_stale": c.stale,
            "bars_without_features": c.no_feature_bars,
            "warming_entries": c.warming_entries,
            "reset_on_restore": list(c.reset_models),
            "lookback_bars": self.plan.lookback,
            "buffer_capacity": self.buffer.capacity,
            "z_window": self.z_window,
            "models": models,
            "composed": None if self.plan.composition is None else self.plan.composition.describe(),
        }


def _prefixed(arrays: dict[str, np.ndarray[Any, Any]], prefix: str) -> dict[str, np.ndarray[Any, Any]]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
