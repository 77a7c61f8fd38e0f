"""The serving core: batched inference, message contract, standardisation and confidence as
served, warm-up, restart (snapshot and rebuild from bars), model reload."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from predictor_kit import (
    FAST,
    bars_of,
    copy_models,
    core,
    history,
    real_bars,
    registry,
    replace_model,
    run,
    ticks,
)

from ridgeline_predictor.core import BarRejectedError, PredictorCore
from ridgeline_predictor.registry import LoadedModel
from ridgeline_shared import codec
from ridgeline_shared.keys import Stream
from ridgeline_shared.messages import Bar, Predictions

pytestmark = pytest.mark.unit

SYMBOLS = ["ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC"]


def dumps(messages: list[Predictions]) -> list[str]:
    return [m.model_dump_json() for m in messages]


def test_one_inference_call_per_model_per_tick_across_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without composition (composed runs: test_predictor_composed.py)."""
    calls: list[tuple[str, int]] = []
    original = LoadedModel.outputs

    def counting(self: LoadedModel, X: np.ndarray) -> object:
        calls.append((self.name, X.shape[0]))
        return original(self, X)

    monkeypatch.setattr(LoadedModel, "outputs", counting)
    c = core(FAST.model_copy(update={"onnx_compose": False}))
    n_ticks = 0
    for tick in ticks(real_bars(SYMBOLS, 0, 150)):
        for bar in tick:
            c.add(bar)
        calls.clear()
        out = c.tick()
        n_ticks += 1
    assert len(out) == 5
    assert sorted(name for name, _ in calls) == sorted(c.registry.models)  # each model once
    assert {rows for _, rows in calls} == {5}  # ... over every symbol of the tick
    assert n_ticks == 150


def test_messages_one_per_symbol_sorted_valid_and_complete() -> None:
    c = core()
    bars = real_bars(SYMBOLS, 0, 200)
    out = run(c, bars)
    by_tick: dict[object, list[Predictions]] = {}
    for m in out:
        by_tick.setdefault(m.event_time, []).append(m)
    for group in by_tick.values():
        assert [m.symbol for m in group] == sorted(m.symbol for m in group)
    assert len(out) == len(bars)  # no bar without a message (gaps of TRXBTC/ADABTC included)
    source = {(b.symbol, b.event_time): b for b in bars}
    for m in out[-25:]:
        bar = source[(m.symbol, m.event_time)]
        assert (m.trace_id, m.close, m.interval) == (bar.trace_id, bar.close, "5m")
        again = codec.decode(Stream.PREDICTIONS, codec.encode(m))
        assert again == Predictions.model_validate(m.model_dump())
        assert {(e.horizon, e.family) for e in m.entries} == {
            (h, f) for h in ("5m", "10m", "15m", "30m", "60m", "1d") for f in ("gbt", "mlp", "ridge")
        }
        assert [e.horizon for e in m.entries][::3] == ["5m", "10m", "15m", "30m", "60m", "1d"]
        assert m.barrier is not None and 0 <= m.barrier.p_peak <= 1
        assert all(not e.warming_up and e.zscore is not None for e in m.entries)


def test_warming_up_is_marked_until_min_samples() -> None:
    out = run(core(), real_bars(["ETHBTC"], 0, 145 + 21))
    first = out[144]  # first bar with features: nothing in the standardiser yet
    assert len(first.entries) == 18
    assert all(e.warming_up and e.zscore is None and e.score == 0.0 for e in first.entries)
    assert all(e.warming_up for e in out[144 + 19].entries)  # 19 earlier predictions < 20
    assert not any(e.warming_up for e in out[144 + 20].entries)  # 20 earlier predictions


def test_served_zscore_and_confidence_match_the_formulas() -> None:
    delay = 150.0
    c = core()
    bars = bars_of(history("ETHBTC"), 0, 420, delay_s=delay)
    out = run(c, bars)
    window = c.z_window  # 0.5 sessions = 144 bars in FAST
    assert window == 144
    raws = [next(e.raw for e in m.entries if (e.horizon, e.family) == ("5m", "gbt")) for m in out[144:]]
    for k in range(len(raws) - 5, len(raws)):
        past = np.array(raws[max(0, k - window) : k])
        expected = float(np.clip((raws[k] - past.mean()) / past.std(ddof=1), -3, 3))
        entry = next(e for e in out[144 + k].entries if (e.horizon, e.family) == ("5m", "gbt"))
        assert entry.zscore == pytest.approx(expected, abs=1e-9)
    last = out[-1]
    for e in last.entries:
        minutes = {"5m": 5, "10m": 10, "15m": 15, "30m": 30, "60m": 60, "1d": 1440}[e.horizon]
        assert e.freshness == pytest.approx(math.exp(-delay / (150.0 * minutes / 5)))
        assert e.confidence == pytest.approx(e.ic * e.freshness * e.capacity * e.stability)
        assert e.score == pytest.approx(e.zscore * e.confidence)
        assert 0 <= e.ic <= 1 and 0 < e.stability <= 1
    assert next(e for e in last.entries if e.horizon == "5m").freshness == pytest.approx(math.exp(-1))
    # capacity: kappa x (session dollar volume) / planned
    h = history("ETHBTC")
    adv = float((h.bars[420 - 288 : 420, 3] * h.bars[420 - 288 : 420, 4]).sum())
    assert last.entries[0].capacity == pytest.approx(min(1.0, FAST.kappa * adv / FAST.planned_notional))


def test_capacity_binds_for_a_large_planned_trade() -> None:
    cfg = FAST.model_copy(update={"planned_notional": 1e6})
    out = run(core(cfg), real_bars(["TRXBTC"], 0, 300))
    h = history("TRXBTC")
    adv = float((h.bars[300 - 288 : 300, 3] * h.bars[300 - 288 : 300, 4]).sum())
    assert out[-1].entries[0].capacity == pytest.approx(0.1 * adv / 1e6)
    assert out[-1].entries[0].capacity < 0.01


def test_restart_from_snapshot_reproduces_the_uninterrupted_run() -> None:
    bars = real_bars(SYMBOLS, 0, 420)
    split = bars_before(bars, 300)
    full = core()
    expected = run(full, bars)
    first = core()
    head = run(first, split[0])
    blob = first.snapshot()
    restored = core()
    restored.restore(blob)
    tail = run(restored, split[1])
    assert dumps(head + tail) == dumps(expected)
    assert restored.snapshot() == full.snapshot()
    assert len(blob) < 2_000_000


def test_restart_without_snapshot_rebuilds_buffers_from_bars() -> None:
    """The retained bars replayed into an empty core rebuild buffers and standardisers exactly;
    replaying them again is idempotent (already-buffered bars are skipped)."""
    bars = real_bars(SYMBOLS, 0, 420)
    head, tail = bars_before(bars, 300)
    full = core()
    expected = run(full, bars)
    rebuilt = core()
    assert rebuilt.replay(head) == len(head)
    assert rebuilt.replay(head) == 0  # second replay: every bar is stale
    assert rebuilt.counters.stale == len(head)
    assert np.array_equal(rebuilt.buffer.count, core_after(head).buffer.count)
    assert dumps(run(rebuilt, tail)) == dumps(expected[len(head) :])


def test_rebuild_from_a_short_tail_restores_features() -> None:
    bars = real_bars(["ETHBTC"], 0, 500)
    full = core()
    run(full, bars[:499])
    short = core()
    short.replay(bars[499 - 289 : 499])  # one buffer's worth of retained bars
    full.add(bars[499])
    short.add(bars[499])
    a, b = full.tick()[0], short.tick()[0]
    assert np.array_equal(full.last_features[1], short.last_features[1])
    assert [e.raw for e in a.entries] == [e.raw for e in b.entries]


def test_reload_keeps_unchanged_models_and_resets_a_new_version(tmp_path: Path) -> None:
    bars = real_bars(["ETHBTC", "LTCBTC"], 0, 260)
    c = core()
    before = run(c, bars)
    assert not any(e.warming_up for e in before[-1].entries)
    d = copy_models(tmp_path / "m")
    replace_model(d, "gbt_5m", (d / "mlp_5m.onnx").read_bytes())  # a new version of gbt_5m
    c.set_registry(registry(d))
    more = run(c, real_bars(["ETHBTC", "LTCBTC"], 260, 262))
    assert len(more) == 4
    for m in more:
        warming = {(e.horizon, e.family) for e in m.entries if e.warming_up}
        assert warming == {("5m", "gbt")}
        assert len(m.entries) == 18
    j = [key[0] for key in c.plan.keys].index("gbt_5m")
    assert c.z.count[:, j].max() == 2
    assert c.z.count[:, j + 1].max() > 100  # mlp_5m kept its window


def test_bars_of_another_interval_duplicates_and_conflicts() -> None:
    c = core()
    bar = real_bars(["ETHBTC"], 0, 1)[0]
    assert c.add(bar.model_copy(update={"interval": "1m"})) is False
    assert c.add(bar) is True
    assert c.add(bar) is False  # the same entry delivered twice
    with pytest.raises(BarRejectedError):
        c.add(bar.model_copy(update={"close": bar.close * 1.01, "high": bar.high * 1.02}))
    assert len(c.tick()) == 1
    assert c.add(bar) is False  # already buffered
    assert c.counters.ignored_interval == 1 and c.counters.stale == 2


def test_returns_across_a_gap_do_not_mature() -> None:
    bars = real_bars(["ETHBTC"], 0, 300)
    del bars[200]
    c = core()
    run(c, bars)
    # 299 bars: 298 consecutive pairs, one of which spans the missing bar
    assert c.plan.horizons[0] == 1
    assert int(c.realised.count[0, 0]) == 297


def bars_before(bars: list[Bar], n_ticks: int) -> tuple[list[Bar], list[Bar]]:
    times = sorted({b.event_time for b in bars})
    cut = times[n_ticks]
    return [b for b in bars if b.event_time < cut], [b for b in bars if b.event_time >= cut]


def core_after(bars: list[Bar]) -> PredictorCore:
    c = core()
    run(c, bars)
    return c


def test_restore_under_a_new_model_version_resets_only_that_model(tmp_path: Path) -> None:
    bars = real_bars(["ETHBTC"], 0, 200)
    old = core()
    run(old, bars)
    d = copy_models(tmp_path / "m")
    replace_model(d, "ridge_1d", (d / "mlp_1d.onnx").read_bytes())
    new = core(reg=registry(d))
    new.restore(old.snapshot())
    assert new.counters.reset_models == ["ridge_1d"]
    (message,) = run(new, real_bars(["ETHBTC"], 200, 201))
    warming = {(e.horizon, e.family) for e in message.entries if e.warming_up}
    assert warming == {("1d", "ridge")}
