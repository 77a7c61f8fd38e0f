"""The fast paths of the serving core give exactly (bit for bit) what the straightforward code
gives: inference whatever the batch, the tracker bank against per-model trackers, ranks, the
doubled-ring buffer, the flat pending rings, and messages built without validation."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import numpy as np
import pytest
from predictor_kit import core, history, real_bars, registry, run

from ridgeline_predictor import features
from ridgeline_predictor.buffer import BarBuffer
from ridgeline_predictor.features import DEFAULT_FEATURES, history_features, parse_feature
from ridgeline_predictor.outgoing import _EntryValues
from ridgeline_predictor.pending import PendingRings
from ridgeline_predictor.stats import average_ranks
from ridgeline_predictor.tracking import ModelTracker, TrackerBank
from ridgeline_shared.messages import Predictions
from ridgeline_shared.messages.prediction import BarrierPrediction, ModelPrediction
from ridgeline_shared.messages.trusted import can_construct

pytestmark = pytest.mark.unit

SYMBOLS = ["ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC"]


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def test_every_bundled_model_gives_each_row_the_same_bits_in_any_batch() -> None:
    """One session run per model per tick is exact: a row's output does not depend on the batch
    it runs in (single rows included: they run as two copies, see ``at_least_two_rows``)."""
    reg = registry()
    names = reg.feature_names
    rows = []
    for symbol in ("ETHBTC", "TRXBTC", "XLMBTC"):
        feats = history_features(history(symbol).bars[:600], names, 5, 289)
        rows.append(feats[~np.isnan(feats).any(axis=1)])
    X = np.concatenate(rows).astype(np.float32)
    assert X.shape[0] > 900
    for name, model in sorted(reg.models.items()):
        Xm = (
            X
            if tuple(model.manifest.features) == names
            else X[:, [names.index(f) for f in model.manifest.features]]
        )
        Xm = np.ascontiguousarray(Xm)
        single = np.concatenate([model.run(Xm[i : i + 1]) for i in range(Xm.shape[0])])
        for size in (2, 3, 5, 64, Xm.shape[0]):
            batched = np.concatenate([model.run(Xm[i : i + size]) for i in range(0, Xm.shape[0], size)])
            assert np.array_equal(bits(batched), bits(single)), (name, size)


def one_feature(kind: str, k: int, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    if kind == "ret":
        return features._ret(c, k)
    if kind == "rvol":
        return features._rvol(c, k)
    if kind == "range":
        return features._range(h, lo, k)
    if kind == "volz":
        return features._volz(v, k)
    if kind == "pos":
        return features._pos(h, lo, c, k)
    return features._gap(c, k)


def test_shared_work_features_equal_the_one_feature_forms() -> None:
    bars = history("ETHBTC").bars[:700]
    view = np.lib.stride_tricks.sliding_window_view(bars, 145, axis=0).transpose(0, 2, 1)
    all_windows = np.ascontiguousarray(view)
    for rows in (1, 2, 7, all_windows.shape[0]):
        w = all_windows[-rows:]
        got = features.window_features(w, DEFAULT_FEATURES, 5)
        fields = (features.HIGH, features.LOW, features.CLOSE, features.VOLUME)
        h, lo, c, v = (np.ascontiguousarray(w[:, :, f]) for f in fields)
        for j, name in enumerate(DEFAULT_FEATURES):
            spec = parse_feature(name)
            one = one_feature(spec.kind, spec.bars(5), h, lo, c, v)
            assert np.array_equal(bits(got[:, j]), bits(one)), (rows, name)


def test_average_ranks_equal_the_stable_sort_reference() -> None:
    def reference(arr: np.ndarray) -> np.ndarray:  # the former implementation
        n = arr.shape[0]
        sorter = np.argsort(arr, kind="mergesort")
        inv = np.empty(n, dtype=np.intp)
        inv[sorter] = np.arange(n, dtype=np.intp)
        ordered = arr[sorter]
        first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
        dense = np.cumsum(first)[inv]
        bounds = np.concatenate((np.nonzero(first)[0], [n])).astype(np.float64)
        return 0.5 * (bounds[dense] + bounds[dense - 1] + 1.0)

    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 3, 17, 500, 5000):
        for x in (rng.standard_normal(n), rng.integers(0, 1 + n // 7, n).astype(np.float64)):
            assert np.array_equal(bits(average_ranks(x)), bits(reference(x)))


def test_tracker_bank_equals_one_tracker_per_model() -> None:
    rng = np.random.default_rng(11)
    windows, refresh = [5, 8, 8, 40, 3], [1, 2, 3, 7, 5]
    trackers = [ModelTracker(w, r) for w, r in zip(windows, refresh, strict=True)]
    bank = TrackerBank.of(trackers)
    for tick in range(120):
        n = int(rng.integers(0, 14))  # some ticks hold more rows than a window
        raw, real, zp = (rng.standard_normal((n, 5)) for _ in range(3))
        zr = rng.standard_normal((n, 5))
        for a in (raw, real, zp, zr):
            a[rng.random(a.shape) < 0.15] = np.nan
        if tick % 9 == 0:
            real[:, 1:3] = real[:, 1:2]  # equal realised columns share their ranks
            zr[:, 1:3] = zr[:, 1:2]
        matured = rng.random((n, 5)) < 0.8
        bank.add(raw, real, zp, zr, matured)
        for j, t in enumerate(trackers):
            rows = np.nonzero(matured[:, j])[0]
            if rows.size:  # the core adds a column's matured rows, if it has any
                t.add(raw[rows, j], real[rows, j], zp[rows, j], zr[rows, j])
        for j, t in enumerate(trackers):
            got = bank.tracker(j)
            assert np.array_equal(bits(got.cache), bits(t.cache)), (tick, j)
            for key, value in t.export().items():
                assert np.array_equal(got.export()[key], value), (tick, j, key)
    assert [t.export()["cache"].tolist() for t in bank.trackers()] == [t.cache.tolist() for t in trackers]


def test_pending_rings_read_what_was_written_h_bars_ago() -> None:
    groups = [np.array([0, 1]), np.array([2]), np.array([3, 4])]
    rings = PendingRings([1, 3, 4], groups, slots=2)
    slots = np.array([1, 0])
    history_raw = []
    for k in range(1, 12):
        raw = np.arange(10, dtype=np.float64).reshape(2, 5) + 100 * k
        past_raw, past_z = rings.exchange(slots, np.array([k, k]), raw, -raw)
        for j, h in enumerate([1, 1, 3, 4, 4]):
            want = history_raw[k - 1 - h][:, j] if k - 1 - h >= 0 else np.full(2, np.nan)
            np.testing.assert_array_equal(past_raw[:, j], want)
            np.testing.assert_array_equal(past_z[:, j], -want)
        history_raw.append(raw)
    g_raw, _ = rings.group(2)  # (slots, 2 columns, 4 bars): a view the snapshot stores
    assert g_raw.shape == (2, 2, 4) and np.shares_memory(g_raw, rings.raw)
    assert g_raw[1, 1, (11 - 1) % 4] == history_raw[-1][0, 4]


def test_doubled_ring_buffer_equals_a_plain_history() -> None:
    rng = np.random.default_rng(5)
    buf = BarBuffer(7)
    plain: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    for symbol in "abc":
        buf.slot(symbol)
    for step in range(30):
        slots = np.array([s for s in range(3) if rng.random() < 0.8], dtype=np.int64)
        values = rng.random((slots.size, 5)) + 1.0
        buf.append(slots, values, np.full(slots.size, step))
        for s, v in zip(slots.tolist(), values, strict=True):
            plain[s].append(v)
        if step == 20:
            buf.resize(9)  # keeps each slot's recent bars in order
        full = np.array([s for s in range(3) if len(plain[s]) >= 4], dtype=np.int64)
        if full.size:
            got = buf.windows(full, 4)
            want = np.array([plain[s][-4:] for s in full.tolist()])
            assert np.array_equal(got, want)
            close, _ = buf.back(full, np.array([0, 3]))
            assert np.array_equal(close, want[:, [3, 0], 3])
        every = np.arange(3, dtype=np.int64)
        got_dv = buf.dollar_volume(every, 5)
        for s in range(3):
            recent = np.array(plain[s][-5:]) if plain[s] else np.zeros((0, 5))
            notional = np.zeros(5)
            notional[5 - len(recent) :] = recent[:, 3] * recent[:, 4]
            want_dv = notional.sum() / max(len(recent), 1) * 5 if len(recent) else 0.0
            assert got_dv[s] == want_dv
    restored = BarBuffer(buf.capacity)
    for symbol in "abc":
        restored.slot(symbol)
    restored.load(buf.data[:3], buf.times[:3], buf.count[:3])
    assert np.array_equal(restored.windows(np.arange(3), 4), buf.windows(np.arange(3), 4))
    assert np.array_equal(restored.dollar_volume(np.arange(3), 9), buf.dollar_volume(np.arange(3), 9))


def test_messages_built_without_validation_equal_validated_ones() -> None:
    assert all(can_construct(cls) for cls in (Predictions, ModelPrediction, BarrierPrediction))
    assert list(vars(_EntryValues(*range(12)))) == list(ModelPrediction.model_fields)  # schema order
    out = run(core(), real_bars(SYMBOLS, 0, 260))
    assert any(m.entries and m.entries[0].warming_up for m in out)  # warming entries too
    for m in out[:5] + out[700:760] + out[-10:]:
        # as the core used to build them: every field but the defaulted envelope ones
        validated = Predictions.model_validate(m.model_dump(exclude={"schema_version", "type"}))
        assert m == validated
        assert m.model_dump_json() == validated.model_dump_json()
        assert m.model_fields_set == validated.model_fields_set
        assert [e.model_fields_set for e in m.entries] == [e.model_fields_set for e in validated.entries]
        copied = m.stamped("predictor", 1)  # a copy gets its own trace and fields
        assert copied.trace == {"predictor": 1} and m.trace == {}


def test_event_time_is_utc_whatever_zone_the_bar_carries() -> None:
    bar = real_bars(["ETHBTC"], 0, 1)[0]
    zone = timezone(timedelta(hours=2))
    shifted = bar.model_construct(**{**bar.__dict__, "event_time": bar.event_time.astimezone(zone)})
    c = core()
    c.add(shifted)
    (message,) = c.tick()
    assert message.event_time.tzinfo is UTC and message.event_time == bar.event_time
