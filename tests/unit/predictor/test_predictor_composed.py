"""Every model as one onnxruntime graph (composed.py) gives each model's own bits, whatever the
batch; models that cannot be composed, or a composed run that fails, fall back to one session
per model without changing any output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from predictor_kit import FAST, copy_models, core, history, nan_model, real_bars, registry, replace_model, run

from ridgeline_predictor import composed
from ridgeline_predictor.composed import Composition, compose_models
from ridgeline_predictor.features import DEFAULT_FEATURES, history_features
from ridgeline_predictor.registry import LoadedModel, SessionSettings, at_least_two_rows

pytestmark = pytest.mark.unit

SYMBOLS = ["ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC"]
PER_MODEL = FAST.model_copy(update={"onnx_compose": False})


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def all_models() -> tuple[list[tuple[int, LoadedModel]], Composition]:
    reg = registry()
    columns = list(enumerate(m for _, m in sorted(reg.models.items())))
    composition = compose_models(columns, reg.feature_names, SessionSettings())
    assert composition is not None
    return columns, composition


def feature_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random rows at the scales of real features (bps returns, ratios, z-scores), some real rows."""
    real = history_features(history("ETHBTC").bars[:450], DEFAULT_FEATURES, 5, 289)
    real = real[~np.isnan(real).any(axis=1)]
    scale = np.abs(real).mean(axis=0)
    X = rng.standard_normal((n, len(DEFAULT_FEATURES))) * scale * rng.choice([0.1, 1.0, 10.0], size=(n, 1))
    take = rng.random(n) < 0.3
    X[take] = real[rng.integers(0, real.shape[0], int(take.sum()))]
    return X.astype(np.float32)


@pytest.mark.parametrize("rows", [1, 2, 7, 100])
def test_the_composed_graph_gives_every_bundled_model_its_own_bits(rows: int) -> None:
    columns, composition = all_models()
    assert composition.columns == [j for j, _ in columns]  # all 20 bundled models compose
    rng = np.random.default_rng(rows)
    for _ in range(20 if rows < 100 else 5):
        X = feature_rows(rng, rows)
        got = composition.run(at_least_two_rows(X))
        assert got is not None and got.shape[1] == len(columns)
        for j, model in columns:
            own = model.run(X)
            assert own is not None
            assert np.array_equal(bits(got[:rows, j]), bits(own)), (model.name, rows)
    assert composition.failures == 0


def test_core_messages_are_identical_with_and_without_composition() -> None:
    bars = real_bars(SYMBOLS, 0, 260)
    composed_core, per_model_core = core(), core(PER_MODEL)
    assert composed_core.plan.composition is not None and not composed_core.plan.alone
    assert per_model_core.plan.composition is None
    fast = [m.model_dump_json() for m in run(composed_core, bars)]
    slow = [m.model_dump_json() for m in run(per_model_core, bars)]
    assert fast == slow and len(fast) == len(bars)


def test_one_composed_run_per_tick_and_no_model_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    run_composed, run_model = Composition.run, LoadedModel.outputs

    def counting_composed(self: Composition, X: np.ndarray) -> object:
        calls.append(("composed", X.shape[0]))
        return run_composed(self, X)

    def counting_model(self: LoadedModel, X: np.ndarray) -> object:
        calls.append((self.name, X.shape[0]))
        return run_model(self, X)

    monkeypatch.setattr(Composition, "run", counting_composed)
    monkeypatch.setattr(LoadedModel, "outputs", counting_model)
    c = core()
    run(c, real_bars(SYMBOLS, 0, 150))
    assert calls == [("composed", 5)] * (150 - 144)  # the ticks with features


def test_a_failing_composed_run_falls_back_to_every_model_alone() -> None:
    bars = real_bars(["ETHBTC", "LTCBTC"], 0, 160)
    expected = [m.model_dump_json() for m in run(core(PER_MODEL), bars)]
    c = core()
    composition = c.plan.composition
    assert composition is not None

    class Broken:
        def run(self, *_: object) -> object:
            raise RuntimeError("boom")

    composition.session = Broken()
    assert [m.model_dump_json() for m in run(c, bars)] == expected
    assert composition.failures == 1 and not composition.active  # tried once, then models alone
    assert "boom" in (composition.last_error or "")
    assert c.status()["composed"]["active"] is False
    assert all(m.failures == 0 for m in c.registry.models.values())


def test_a_failing_model_session_still_fails_alone_after_a_composed_failure() -> None:
    reg = registry()
    model = reg.models["ridge_60m"]

    class Broken:
        def run(self, *_: object) -> object:
            raise RuntimeError("boom")

    c = core(reg=reg)
    assert c.plan.composition is not None
    c.plan.composition.session = Broken()
    model.session = Broken()
    out = run(c, real_bars(["ETHBTC"], 0, 150))
    assert ("60m", "ridge") not in {(e.horizon, e.family) for e in out[-1].entries}
    assert len(out[-1].entries) == 17
    assert model.failures == 6


def matmul_model(features: list[str], seed: int, ml_domain: bool) -> bytes:
    """A linear regressor on ``features``; declares ai.onnx.ml (unused) when ``ml_domain``."""
    w = np.random.default_rng(seed).standard_normal((len(features), 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["variable"])],
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(features)])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w, "w")],
    )
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid("ai.onnx.ml", 1)] if ml_domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def test_models_on_other_columns_compose_and_other_domains_run_alone(tmp_path: Path) -> None:
    d = copy_models(tmp_path / "m")
    reordered = list(reversed(DEFAULT_FEATURES))[:9]
    replace_model(d, "mlp_15m", matmul_model(reordered, 1, ml_domain=True), features=reordered)
    replace_model(d, "mlp_30m", nan_model(len(DEFAULT_FEATURES)))  # no ai.onnx.ml: another group
    reg = registry(d)
    assert reg.errors == {}
    c, per_model = core(reg=reg), core(PER_MODEL, reg=registry(d))
    composition = c.plan.composition
    assert composition is not None
    assert "mlp_15m" in [m.name for _, m in composition.members]  # its columns gathered in-graph
    assert [m.name for _, m in c.plan.alone] == ["mlp_30m"]
    bars = real_bars(["ETHBTC", "LTCBTC"], 0, 170)
    assert [m.model_dump_json() for m in run(c, bars)] == [m.model_dump_json() for m in run(per_model, bars)]
    assert reg.models["mlp_30m"].nan_rows == 2 * (170 - 144)  # NaN accounting as before


def test_a_model_that_differs_on_the_probe_runs_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    original = composed._own_outputs

    def skewed(model: LoadedModel, X: np.ndarray) -> np.ndarray | None:
        out = original(model, X)
        return None if out is None else (out + 1.0 if model.name == "gbt_1d" else out)

    monkeypatch.setattr(composed, "_own_outputs", skewed)
    c = core()
    assert c.plan.composition is not None
    assert [m.name for _, m in c.plan.alone] == ["gbt_1d"]
    assert len(c.plan.composition.members) == 19


def test_fewer_than_two_composable_models_give_no_composition() -> None:
    reg = registry()
    one = [(0, reg.models["gbt_5m"])]
    assert compose_models(one, reg.feature_names, SessionSettings()) is None
    broken = LoadedModel(reg.models["gbt_10m"].manifest, reg.models["gbt_10m"].session, 2, 145, data=b"junk")
    assert compose_models([*one, (1, broken)], reg.feature_names, SessionSettings()) is None
