"""The predictor's pure core: bars in, one Predictions message per symbol and bar out.

Per tick (all bars sharing one event time):

1. append every bar to its symbol's buffer (one vectorised write);
2. realised returns: for each horizon, the return since the bar ``h`` bars ago (only if that bar
   is exactly ``h`` intervals earlier: a gap voids the sample), standardised per (symbol, horizon);
3. compute the features of every symbol whose buffer is long enough, in one array;
4. run each model once over all those rows (one onnxruntime call per model, not per symbol);
5. z-score the raw predictions against their (symbol, model) windows, all models at once;
6. mature the predictions made ``h`` bars ago into each model's IC and stability windows;
7. confidence and calibrated score (MATH.md s.1); one message per symbol, sorted by symbol.

State is laid out as arrays indexed by (symbol slot, model column), so the per-tick work is a few
vectorised operations whatever the number of symbols. No wall clock, no randomness: the output
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
from ridgeline_predictor.arrays import grow_rows
from ridgeline_predictor.buffer import BarBuffer
from ridgeline_predictor.config import PredictorConfig
from ridgeline_predictor.features import BPS, CLOSE, lookback_bars, window_features
from ridgeline_predictor.registry import LoadedModel, ModelRegistry
from ridgeline_predictor.standardise import RollingStandardiser
from ridgeline_predictor.state_codec import pack, unpack
from ridgeline_predictor.tracking import ModelTracker
from ridgeline_shared.intervals import minutes_to_bars, parse_minutes
from ridgeline_shared.messages import Bar, Predictions

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SNAPSHOT_VERSION = 2
Key = tuple[str, str, int]  # model name, version, horizon bars: what a model's state belongs to


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
    groups: list[I64]  # per horizon: the model columns of that horizon
    tau: F64  # freshness time constant per model column (s)
    prior_ic: list[float]
    peak: LoadedModel | None
    valley: LoadedModel | None


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
        return _Plan(
            features=features,
            lookback=lookback_bars(features, self.interval_minutes) if features else 2,
            feature_cols=feature_cols,
            models=models,
            keys=[(m.name, m.version, m.horizon_bars) for m in models],
            horizons=horizons,
            groups=groups,
            tau=np.array([conf.tau_seconds(minutes[m.name], self.config.tau_5m_seconds) for m in models]),
            prior_ic=[m.manifest.oos_ic for m in models],
            peak=registry.barrier("barrier_peak"),
            valley=registry.barrier("barrier_valley"),
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
        self.pend_raw = [
            np.full((slots, g.size, h), np.nan) for h, g in zip(plan.horizons, plan.groups, strict=True)
        ]
        self.pend_z = [
            np.full((slots, g.size, h), np.nan) for h, g in zip(plan.horizons, plan.groups, strict=True)
        ]
        self.trackers = [self._tracker(m.horizon_bars) for m in plan.models]

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
        for gi, group in enumerate(plan.groups):
            for k, j in enumerate(group.tolist()):
                src = sources[j]
                if src is None:
                    continue
                ogi, ok = old_pos[src]
                rows = min(slots, pend_raw[ogi].shape[0])
                self.pend_raw[gi][:rows, k] = pend_raw[ogi][:rows, ok]
                self.pend_z[gi][:rows, k] = pend_z[ogi][:rows, ok]
                self.trackers[j] = trackers[src]
        return reset

    def set_registry(self, registry: ModelRegistry) -> None:
        """Swap in a new set of models between ticks; state of unchanged versions is kept."""
        keys, horizons = self.plan.keys, self.plan.horizons
        self.registry = registry
        self.plan = self._plan(registry)
        if self._capacity() != self.buffer.capacity:
            self.buffer.resize(self._capacity())
        self._adopt(keys, horizons, self.z, self.realised, self.pend_raw, self.pend_z, self.trackers)

    def _ensure_slots(self, slots: int) -> None:
        self.z.ensure_slots(slots)
        self.realised.ensure_slots(slots)
        self.pend_raw = [grow_rows(a, slots, np.nan) for a in self.pend_raw]
        self.pend_z = [grow_rows(a, slots, np.nan) for a in self.pend_z]

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

        # Realised returns over each horizon, and their z-scores per (symbol, horizon).
        r = np.full((n, len(plan.horizons)), np.nan)
        for gi, h in enumerate(plan.horizons):
            has = np.nonzero(count > h)[0]
            if has.size:
                then_close, then_time = self.buffer.back(slots[has], h)
                contiguous = (times[has] - then_time) == h * self.step_s
                r[has, gi] = np.where(contiguous, np.log(values[has, CLOSE] / then_close) * BPS, np.nan)
        zr = self.realised.update(slots, r)

        # Features and one inference call per model over every ready symbol.
        ready = np.nonzero(count >= plan.lookback)[0]
        X = np.zeros((0, len(plan.features)))
        if ready.size and plan.features:
            X = window_features(
                self.buffer.windows(slots[ready], plan.lookback), plan.features, self.interval_minutes
            )
        self.last_features = ([bars[i].symbol for i in ready], X)
        X32 = X.astype(np.float32)
        raw = np.full((n, len(plan.models)), np.nan)
        for j, model in enumerate(plan.models):
            raw[:, j] = self._infer(model, X32, ready, n)
        p_peak = self._infer(plan.peak, X32, ready, n)
        p_valley = self._infer(plan.valley, X32, ready, n)

        z = self.z.update(slots, raw)
        self._mature(slots, count, raw, z, r, zr)

        ic = np.array(
            [
                conf.ic_estimate(*t.ic(), prior, cfg.ic_prior_samples, cfg.ic_min_samples)
                for t, prior in zip(self.trackers, plan.prior_ic, strict=True)
            ]
        )
        stability = np.array(
            [
                conf.stability(*t.mse(), prior, cfg.ic_prior_samples, cfg.ic_min_samples)
                for t, prior in zip(self.trackers, plan.prior_ic, strict=True)
            ]
        )
        age = np.array([(b.received_at - b.event_time).total_seconds() for b in bars], dtype=np.float64)
        fresh = np.exp(-np.maximum(age, 0.0)[:, None] / plan.tau[None, :])
        cap = conf.capacity(
            self.buffer.dollar_volume(slots, self.session_bars), cfg.kappa, cfg.planned_notional
        )
        confidence = np.clip(ic[None, :] * stability[None, :] * fresh * cap[:, None], 0.0, 1.0)
        warming = ~np.isfinite(z)
        score = np.where(warming, 0.0, np.where(warming, 0.0, z) * confidence)

        self.counters.ticks += 1
        self.counters.bars += n
        self.counters.no_feature_bars += n - int(ready.size)
        return self._messages(
            bars,
            raw.tolist(),
            z.tolist(),
            warming.tolist(),
            ic.tolist(),
            stability.tolist(),
            fresh.tolist(),
            cap.tolist(),
            confidence.tolist(),
            score.tolist(),
            p_peak,
            p_valley,
        )

    def _infer(self, model: LoadedModel | None, X32: NDArray[np.float32], ready: I64, n: int) -> F64:
        result = np.full(n, np.nan)
        if model is None or ready.size == 0:
            return result
        cols = self.plan.feature_cols[model.name]
        out = model.run(X32 if cols is None else np.ascontiguousarray(X32[:, cols]))
        if out is not None:
            result[ready] = np.where(np.isfinite(out), out, np.nan)
        return result

    def _mature(self, slots: I64, count: I64, raw: F64, z: F64, r: F64, zr: F64) -> None:
        """Pair each model's prediction of ``h`` bars ago with the return realised since, then
        store this bar's predictions in the ring (read before write: same position)."""
        for gi, (h, group) in enumerate(zip(self.plan.horizons, self.plan.groups, strict=True)):
            pos = ((count - 1) % h)[:, None]
            k = np.arange(group.size)[None, :]
            rows = slots[:, None]
            past_raw = self.pend_raw[gi][rows, k, pos]
            past_z = self.pend_z[gi][rows, k, pos]
            matured = np.nonzero(count > h)[0]
            if matured.size:
                for kk, j in enumerate(group.tolist()):
                    self.trackers[j].add(
                        past_raw[matured, kk], r[matured, gi], past_z[matured, kk], zr[matured, gi]
                    )
            self.pend_raw[gi][rows, k, pos] = raw[:, group]
            self.pend_z[gi][rows, k, pos] = z[:, group]

    def _messages(
        self,
        bars: list[Bar],
        raw: list[list[float]],
        z: list[list[float]],
        warming: list[list[bool]],
        ic: list[float],
        stability: list[float],
        fresh: list[list[float]],
        cap: list[float],
        confidence: list[list[float]],
        score: list[list[float]],
        p_peak: F64,
        p_valley: F64,
    ) -> list[Predictions]:
        # Built as plain data and validated once per message by pydantic-core (faster than
        # constructing each entry in Python, and every message is checked against the schema).
        plan = self.plan
        barrier_version = ""
        if plan.peak is not None and plan.valley is not None:
            barrier_version = f"{plan.peak.version}/{plan.valley.version}"
        peaks, valleys = np.clip(p_peak, 0.0, 1.0).tolist(), np.clip(p_valley, 0.0, 1.0).tolist()
        statics = [
            (j, m.manifest.horizon, m.manifest.family, m.version, ic[j], stability[j])
            for j, m in enumerate(plan.models)
        ]
        messages: list[Predictions] = []
        warming_entries = 0
        for i, bar in enumerate(bars):
            raw_i, z_i, warm_i, fresh_i, conf_i, score_i = (
                raw[i],
                z[i],
                warming[i],
                fresh[i],
                confidence[i],
                score[i],
            )
            entries: list[dict[str, Any]] = []
            for j, horizon, family, version, ic_j, stab_j in statics:
                value = raw_i[j]
                if math.isnan(value):  # no features yet, or the model failed on this row
                    continue
                warm = warm_i[j]
                warming_entries += warm
                entries.append(
                    {
                        "horizon": horizon,
                        "family": family,
                        "model_version": version,
                        "raw": value,
                        "zscore": None if warm else z_i[j],
                        "ic": ic_j,
                        "freshness": fresh_i[j],
                        "capacity": cap[i],
                        "stability": stab_j,
                        "confidence": conf_i[j],
                        "score": score_i[j],
                        "warming_up": warm,
                    }
                )
            barrier = None
            if barrier_version and not (math.isnan(peaks[i]) or math.isnan(valleys[i])):
                barrier = {"p_peak": peaks[i], "p_valley": valleys[i], "model_version": barrier_version}
            messages.append(
                Predictions.model_validate(
                    {
                        "event_time": bar.event_time,
                        "trace_id": bar.trace_id,
                        "trace": bar.trace,
                        "symbol": bar.symbol,
                        "interval": self.interval,
                        "close": bar.close,
                        "entries": entries,
                        "barrier": barrier,
                    }
                )
            )
        self.counters.messages += len(messages)
        self.counters.warming_entries += warming_entries
        return messages

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
            arrays[f"pend.{gi}.raw"] = self.pend_raw[gi][:n]
            arrays[f"pend.{gi}.z"] = self.pend_z[gi][:n]
        for j, tracker in enumerate(self.trackers):
            arrays.update({f"t.{j}.{k}": v for k, v in tracker.export().items()})
        meta = {
            "version": SNAPSHOT_VERSION,
            "interval": self.interval,
            "symbols": list(self.buffer.symbols),
            "capacity": self.buffer.capacity,
            "z_window": self.z_window,
            "horizons": self.plan.horizons,
            "models": [list(key) for key in self.plan.keys],
            "ic_windows": [t.pairs.window for t in self.trackers],
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
        n = len(buffer)
        buffer.data[:n] = arrays["buf.data"]
        buffer.times[:n] = arrays["buf.times"]
        buffer.count[:n] = arrays["buf.count"]
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
        for model, tracker in zip(self.plan.models, self.trackers, strict=True):
            ic, n_ic = tracker.ic()
            models[model.name] = {
                "version": model.version,
                "rolling_ic": round(ic, 6),
                "ic_pairs": n_ic,
                "ic_window": tracker.pairs.window,
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
        }


def _prefixed(arrays: dict[str, np.ndarray[Any, Any]], prefix: str) -> dict[str, np.ndarray[Any, Any]]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
