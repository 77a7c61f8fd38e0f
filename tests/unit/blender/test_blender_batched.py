"""The batched pieces of the tick against their one-at-a-time definitions, bit for bit: the stacked
blend, the stacked correlations, the entry grid, the per-symbol costs, the bandit's cached
probabilities and the lazy attributions."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from blender_helpers import HORIZONS, entry, predictions, random_entries, real_bars
from hypothesis import given, settings
from hypothesis import strategies as st

from ridgeline_blender.bandit import Exp3IX, softmax
from ridgeline_blender.blend import BlendParams, HorizonInputs, TickBlend, blend_horizon, blend_stacked
from ridgeline_blender.config import BlenderConfig
from ridgeline_blender.core import Blender
from ridgeline_blender.costs import HorizonCosts, horizon_cost_bps
from ridgeline_blender.grid import EntryGrid
from ridgeline_blender.outcomes import LazyAttributions, contribution_shares
from ridgeline_blender.ridge import RollingCorrelation, correlation_from_moments, correlations
from ridgeline_shared.market import CostModel

pytestmark = pytest.mark.unit


def bits(values: object) -> bytes:
    """Exact float content (0.0 and -0.0 differ), whatever the nesting."""
    return np.asarray(values, dtype=float).tobytes()


def random_inputs(rng: np.random.Generator, n: int, k: int, families: tuple[str, ...]) -> HorizonInputs:
    x = rng.normal(size=(40, k))
    sigma = np.atleast_2d(np.corrcoef(x, rowvar=False)) if k > 1 else np.eye(1)
    bandit = Exp3IX(list(families))
    bandit.log_u = rng.normal(0.0, 1.0, size=k)
    return HorizonInputs(
        families=families,
        active=np.ones((n, k), dtype=bool),
        ic=rng.uniform(0.0, 0.2, size=(n, k)),
        z=rng.normal(size=(n, k)),
        scores=rng.uniform(-3.0, 3.0, size=(n, k)),
        conf=rng.uniform(0.0, 1.0, size=(n, k)),
        shares=np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 10.0, size=n)),
        sigma=sigma,
        temperature=float(rng.choice([0.75, 0.85, 0.9, 1.0])),
        bandit=bandit,
        warm=bool(rng.random() < 0.5),
    )


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), k=st.integers(1, 5), h=st.integers(1, 6))
def test_stacked_blend_equals_one_horizon_at_a_time(seed: int, n: int, k: int, h: int) -> None:
    rng = np.random.default_rng(seed)
    families = tuple(f"f{j}" for j in range(k))
    inputs = [random_inputs(rng, n, k, families) for _ in range(h)]
    params = BlendParams(ridge_lambda=0.15, cost_lambda=0.5, ridge_share=0.7)
    for stacked, inp in zip(blend_stacked(inputs, params), inputs, strict=True):
        alone = blend_horizon(inp, params)
        assert stacked.families == alone.families
        for part in ("ridge", "bandit", "final", "scores", "blended", "confidence", "probabilities"):
            assert bits(getattr(stacked, part)) == bits(getattr(alone, part)), part
        assert stacked.active == alone.active


def test_correlations_of_several_windows_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    windows = [RollingCorrelation(3, 20, 5) for _ in range(6)]
    for step in range(40):
        for h, window in enumerate(windows):
            if (step + h) % 7 == 0:
                continue  # a window that is not pushed keeps its correlation
            x = rng.normal(size=(rng.integers(1, 9), 3))
            window.push(x, rng.random(x.shape) < 0.9)
        got = correlations(windows)
        for window, corr in zip(windows, got, strict=True):
            assert bits(corr) == bits(correlation_from_moments(window.moments(), window.min_obs))
            assert not corr.flags.writeable
    assert bits(correlations([RollingCorrelation(2, 5, 2)])[0]) == bits(np.eye(2))


@settings(max_examples=300, deadline=None)
@given(
    spread=st.floats(0.0, 50.0),
    sigma=st.none() | st.floats(0.0, 500.0),
    price=st.floats(1e-6, 1e5),
    adv=st.none() | st.floats(0.0, 1e9) | st.sampled_from([1e-308, 5e-324]),
    k=st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 2.0), st.sampled_from([0.0, 1.0, 0.37])),
    interval=st.sampled_from([1, 5, 15, 60]),
)
def test_horizon_costs_equal_the_cost_model_per_horizon(
    spread: float,
    sigma: float | None,
    price: float,
    adv: float | None,
    k: tuple[float, float, float],
    interval: int,
) -> None:
    model = CostModel(*k)
    minutes = [interval * b for b in (1, 2, 3, 6, 12)] + [1440]
    costs = HorizonCosts(
        model,
        interval_minutes=interval,
        horizon_minutes=minutes,
        session_bars=1440 // interval,
        planned_notional=5.0,
    )
    got = costs.costs(spread, sigma, price, adv)
    expected = [
        horizon_cost_bps(
            model,
            spread_bps=spread,
            sigma_1_bps=sigma,
            interval_minutes=interval,
            horizon_minutes=m,
            session_bars=1440 // interval,
            planned_notional=5.0,
            price=price,
            adv_shares=adv,
        )
        for m in minutes
    ]
    assert bits(got) == bits(expected)


def grid_and_core(families: tuple[str, ...] = ()) -> tuple[Blender, EntryGrid]:
    core = Blender(BlenderConfig(families=families), "5m", HORIZONS)
    for state in core.horizons.values():
        state.families = sorted(families or ("gbt", "linear", "mlp"))
    grid = core._new_grid()
    assert grid is not None
    return core, grid


def test_entry_grid_equals_the_entries_grouped_one_by_one() -> None:
    core, grid = grid_and_core(("gbt", "linear", "mlp"))
    rng = random.Random(5)
    bars = real_bars("ETHBTC")
    batch = []
    for i in range(25):
        ents = random_entries(rng, warming=0.3, families=("gbt", "linear", "mlp", "other"))
        ents.append(entry("7m", "gbt", 1.0))  # an unknown horizon: ignored
        ents.append(entry("1h", "mlp", 0.5) if i % 5 == 0 else entry("2d", "mlp", 0.5))
        rng.shuffle(ents)
        preds = predictions(bars[i], ents).model_copy(update={"symbol": f"S{i:02d}"})
        if i % 5 == 0:
            # 1h is 60m spelled otherwise: a repeated model, for the per-entry path to refuse.
            assert grid.add(preds.entries) is None
            with pytest.raises(ValueError, match="repeated"):
                core.parse_predictions(preds)
            continue
        placed = grid.add(preds.entries)
        assert placed is not None
        row, ignored = placed
        grouped = core.parse_predictions(preds)
        assert ignored == len(ents) - sum(len(v) for v in grouped.values())
        batch.append((preds.symbol, (preds, row)))
    batch.reverse()  # rows in any order
    arrays = grid.arrays([row for _, (_, row) in batch])
    for h, spec in enumerate(core.specs):
        table = core._grouped_table(spec.name, batch)
        for got, expected in zip((a[h] for a in arrays), table, strict=True):
            assert got.dtype == expected.dtype
            assert got.tobytes() == expected.tobytes()
            assert got.flags.c_contiguous


def test_entry_grid_leaves_a_new_family_to_the_per_entry_path() -> None:
    _, grid = grid_and_core()
    bar = real_bars("ETHBTC")[0]
    assert grid.add(predictions(bar, [entry("5m", "tcn", 1.0)]).entries) is None
    assert grid.add(predictions(bar, [entry("5m", "gbt", 1.0)]).entries) == (0, 0)


def test_bandit_probabilities_are_cached_until_an_update() -> None:
    bandit = Exp3IX(["a", "b", "c"])
    p = bandit.probabilities()
    assert p is bandit.probabilities()
    assert not p.flags.writeable
    bandit.step("b", -50.0, 1 / 3)
    q = bandit.probabilities()
    assert q is not p
    assert bits(q) == bits(softmax(bandit.log_u))
    assert bits(bandit.probabilities_of(["a", "b", "c"])) == bits(softmax(bandit.log_u[[0, 1, 2]]))
    bandit.log_u = np.array([0.0, -1.0, -2.0])
    assert bits(bandit.probabilities()) == bits(softmax(np.array([0.0, -1.0, -2.0])))
    bandit.add_arm("d")
    assert bandit.probabilities().shape == (4,)


def test_lazy_attributions_derive_what_the_signal_had() -> None:
    from ridgeline_blender.blend import HorizonBlock

    block = HorizonBlock(
        families=("gbt", "mlp"),
        ridge=[0.5, 0.5, 0.2, 0.8],
        bandit=[0.5, 0.5, 0.5, 0.5],
        final=[0.5, 0.5, 0.2, 0.8],
        scores=[1.0, -0.5, 0.0, 0.0],
        blended=[0.25, 0.0],
        confidence=[0.5, 0.5],
        active=[True, True],
        probabilities=[0.4, 0.6],
    )
    idle = HorizonBlock(
        ("gbt", "mlp"),
        [0.0] * 4,
        [0.0] * 4,
        [0.0] * 4,
        [0.0] * 4,
        [0.0] * 2,
        [0.0] * 2,
        [False] * 2,
        [0.5] * 2,
    )
    tick = TickBlend({"5m": block, "10m": idle}, [True, True])
    first = LazyAttributions(tick, 0)
    assert list(first) == ["5m"]
    assert len(first) == 1
    assert first["5m"].shares == contribution_shares([0.5, 0.5], [1.0, -0.5])
    assert first["5m"].probabilities == [0.4, 0.6]
    assert "10m" not in first
    with pytest.raises(KeyError):
        first["10m"]
    # Row 1: nobody contributed (zero scores), so no attribution, as none was recorded before.
    assert dict(LazyAttributions(tick, 1)) == {}
    assert dict(LazyAttributions(TickBlend({"5m": block}, [False, True]), 0)) == {}
    assert math.isclose(sum(first["5m"].shares), 1.0)


def test_a_symbol_that_stops_keeps_its_rows_not_its_ticks() -> None:
    """Its last weights and signal records outlive the ticks they were made in (memory bounded by
    the symbols, not by the ticks they were last seen in), with the same figures."""
    core = Blender(BlenderConfig(), "5m", HORIZONS)
    bars = {s: real_bars(s) for s in ("ADABTC", "ETHBTC", "LTCBTC")}
    rng = random.Random(9)
    for k in range(40):
        for s in bars:
            core.on_bar(bars[s][k])
        for s in bars if k < 30 else ("ADABTC", "LTCBTC"):  # ETHBTC stops at tick 30
            core.add_predictions(predictions(bars[s][k], random_entries(rng)))
        core.end_tick()
        if k == 29:
            view = core.weights_view()
            records = core.outcomes.to_dict()["signals"]["ETHBTC"]
    tick, row = core.last_weights["ETHBTC"]
    assert row == 0 and all(len(b.active) == 1 for b in tick.blocks.values())
    assert all(isinstance(r.horizons, dict) for r in core.outcomes.signals["ETHBTC"].values())
    assert {h: v["symbols"]["ETHBTC"] for h, v in core.weights_view()["horizons"].items()} == {
        h: v["symbols"]["ETHBTC"] for h, v in view["horizons"].items()
    }
    assert core.outcomes.to_dict()["signals"]["ETHBTC"] == records
    assert len(core._ticks) == core._keep_ticks
