"""Helpers for the predictor's unit tests: real bars from the bundled data, cores on the bundled
models, and a tick runner."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ridgeline_predictor.config import PredictorConfig, bundled_models_dir
from ridgeline_predictor.core import PredictorCore
from ridgeline_predictor.registry import ModelRegistry, SessionSettings, load_registry
from ridgeline_predictor.training.data import History, load_csv
from ridgeline_shared.config import DEFAULT_HORIZONS
from ridgeline_shared.messages import Bar, Predictions

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "data" / "market"
SHARED_DATA = REPO.parent / "shared" / "data" / "market"
MODELS = bundled_models_dir()


def data_dir() -> Path:
    return DATA if (DATA / "ETHBTC_5m.csv").exists() else SHARED_DATA


@cache
def history(symbol: str, interval: str = "5m") -> History:
    return load_csv(data_dir() / f"{symbol}_{interval}.csv", symbol, interval)


def bars_of(h: History, start: int = 0, stop: int | None = None, delay_s: float = 0.0) -> list[Bar]:
    step = timedelta(minutes=int(h.interval[:-1]))
    out = []
    for t, (o, hi, lo, c, v) in zip(h.event_s[start:stop], h.bars[start:stop], strict=True):
        close = datetime.fromtimestamp(int(t), UTC)
        out.append(
            Bar(
                event_time=close,
                trace_id=f"{h.symbol}@{close.isoformat()}",
                symbol=h.symbol,
                interval=h.interval,
                open_time=close - step,
                open=o,
                high=hi,
                low=lo,
                close=c,
                volume=v,
                received_at=close + timedelta(seconds=delay_s),
                source="test",
            )
        )
    return out


def real_bars(symbols: Sequence[str], start: int = 0, stop: int | None = None) -> list[Bar]:
    return [b for s in symbols for b in bars_of(history(s), start, stop)]


def ticks(bars: Iterable[Bar]) -> list[list[Bar]]:
    groups: dict[datetime, list[Bar]] = {}
    for bar in bars:
        groups.setdefault(bar.event_time, []).append(bar)
    return [groups[t] for t in sorted(groups)]


def registry(
    directory: Path = MODELS, interval: str = "5m", horizons: tuple[str, ...] = DEFAULT_HORIZONS, **kw: bool
) -> ModelRegistry:
    return load_registry(directory, interval, 1440, horizons, SessionSettings(), **kw)


FAST = PredictorConfig(z_min_samples=20, z_window_sessions=0.5, ic_window=50, ic_min_samples=10)


def core(
    config: PredictorConfig = FAST, reg: ModelRegistry | None = None, interval: str = "5m"
) -> PredictorCore:
    return PredictorCore(config, interval, 1440, reg if reg is not None else registry(interval=interval))


def run(c: PredictorCore, bars: Iterable[Bar]) -> list[Predictions]:
    out: list[Predictions] = []
    for tick in ticks(bars):
        for bar in tick:
            c.add(bar)
        out.extend(c.tick())
    return out


def copy_models(dst: Path, src: Path = MODELS) -> Path:
    shutil.copytree(src, dst)
    return dst


def replace_model(directory: Path, name: str, data: bytes, **fields: object) -> None:
    """Write new ONNX bytes for ``name`` with a manifest whose hash and version match them."""
    digest = hashlib.sha256(data).hexdigest()
    (directory / f"{name}.onnx").write_bytes(data)
    path = directory / f"{name}.json"
    manifest = json.loads(path.read_text())
    manifest.update({"sha256": digest, "version": digest[:12], **fields})
    path.write_text(json.dumps(manifest, sort_keys=True))


def nan_model(n_features: int) -> bytes:
    """An ONNX regressor whose every output is NaN."""
    weights = numpy_helper.from_array(np.full((n_features, 1), np.nan, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["variable"])],
        "nan",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
