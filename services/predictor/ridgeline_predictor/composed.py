"""Many models as one onnxruntime graph, run once per tick instead of one session run per model.

At one symbol a tick's inference is mostly fixed cost per ``session.run`` (argument binding, the
executor, Python), not arithmetic; composing the models that share an input into one graph pays it
once. Each model's nodes keep their own (prefixed) names and weights and read the one input; the
graph adds only exact copies: a ``Gather`` of the model's feature columns when they differ from
the full row, a ``Gather`` of the output column (classifiers), a reshape where an output is not
declared ``(rows, 1)``, a ``Concat`` of the columns and one cast to float64 (exact). So every
column is the bits its model's own session gives (tested for every bundled model; also checked on
probe rows at composition: a model that differs there runs on its own).

A model that cannot be composed (unreadable bytes, local functions, control flow, a non-float
output, a default-domain opset the converter cannot raise, another version of a non-default
domain such as ``ai.onnx.ml``) keeps its own session; so does every model when a composed run
fails (:meth:`Composition.run` returns None and the caller runs the models one by one, as before,
for that tick and after).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, compose, helper, numpy_helper, version_converter

from ridgeline_predictor.registry import LoadedModel, SessionSettings, make_session

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
INPUT = "ridgeline.features"  # no prefixed name ("m<column>__...") can collide with these
OUTPUT = "ridgeline.outputs"
FLOAT_OUTPUTS = (TensorProto.FLOAT, TensorProto.DOUBLE)
PROBE_ROWS = 8
MIN_OPSET = 7  # the added nodes need 5 (Reshape's shape input); the probe checks any conversion
PROBE_SEED = 20240101


@dataclass
class Composition:
    """One session giving ``(rows, len(members))`` float64: column k is the outputs of model
    ``members[k][1]``, which fills the caller's column ``members[k][0]``."""

    session: ort.InferenceSession
    members: list[tuple[int, LoadedModel]]
    failures: int = 0
    last_error: str | None = None

    @property
    def columns(self) -> list[int]:
        return [j for j, _ in self.members]

    @property
    def active(self) -> bool:
        """False after a failed run: the models then run one by one until the next reload."""
        return self.failures == 0

    def run(self, X: F32) -> F64 | None:
        """Every member's outputs (give it at least two rows, ``registry.at_least_two_rows``);
        None when the run fails (counted here, not against any model)."""
        try:
            out = self.session.run([OUTPUT], {INPUT: X})[0]
            if out.shape != (X.shape[0], len(self.members)) or out.dtype != np.float64:
                raise ValueError(f"composed output {out.shape} {out.dtype} for {X.shape[0]} rows")
        except Exception as exc:  # onnxruntime raises several unrelated types
            self.failures += 1
            self.last_error = f"composed run failed: {exc}"[:500]
            return None
        return np.asarray(out)

    def describe(self) -> dict[str, Any]:
        return {
            "models": [m.name for _, m in self.members],
            "active": self.active,
            "failures": self.failures,
            "last_error": self.last_error,
        }


@dataclass
class _Part:
    column: int
    model: LoadedModel
    proto: onnx.ModelProto
    domains: frozenset[tuple[str, int]] = field(default_factory=frozenset)  # non-default domains


def _output_type(proto: onnx.ModelProto, name: str) -> int | None:
    for out in proto.graph.output:
        if out.name == name and out.type.HasField("tensor_type"):
            return int(out.type.tensor_type.elem_type)
    return None


def _parse(model: LoadedModel) -> onnx.ModelProto | None:
    try:
        return onnx.load_from_string(model.data)
    except Exception:  # onnx's parse errors share no base class
        return None


def _default_opset(proto: onnx.ModelProto) -> int:
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _has_subgraphs(graph: onnx.GraphProto) -> bool:
    """Control flow (If, Loop, Scan): its bodies may read the input by name, which is renamed."""
    kinds = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    return any(a.type in kinds for node in graph.node for a in node.attribute)


def _part(column: int, model: LoadedModel, proto: onnx.ModelProto, opset: int) -> _Part | None:
    """The model's graph at default-domain ``opset``, or None if it cannot be composed."""
    graph = proto.graph
    if proto.functions or graph.sparse_initializer or len(graph.input) != 1 or _has_subgraphs(graph):
        return None
    if graph.input[0].name == model.manifest.output_name:  # the input is renamed away
        return None
    if _output_type(proto, model.manifest.output_name) not in FLOAT_OUTPUTS:
        return None
    if 0 < _default_opset(proto) != opset:  # 0: no default-domain operator to convert
        try:
            proto = version_converter.convert_version(proto, opset)
        except Exception:  # unsupported operators or adapters
            return None
    others = frozenset((o.domain, o.version) for o in proto.opset_import if o.domain not in ("", "ai.onnx"))
    return _Part(column, model, proto, others)


def _one_column(proto: onnx.ModelProto, name: str) -> bool:
    """Whether output ``name`` is declared ``(rows, 1)``."""
    for out in proto.graph.output:
        if out.name == name:
            dims = out.type.tensor_type.shape.dim
            return len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value == 1
    return False


def _graph(parts: list[_Part], features: tuple[str, ...], opset: int) -> bytes:
    """The members' nodes side by side on one input; their ``(rows, 1)`` float32 columns
    concatenated then cast once, then the float64 ones (``parts`` lists float32 outputs first)."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    columns: dict[int, list[str]] = {TensorProto.FLOAT: [], TensorProto.DOUBLE: []}
    for p in parts:
        pre, manifest = f"m{p.column}__", p.model.manifest
        graph = compose.add_prefix(p.proto, pre).graph
        source = INPUT
        if tuple(manifest.features) != features:
            idx = numpy_helper.from_array(
                np.array([features.index(n) for n in manifest.features]), pre + "rl_idx"
            )
            inits.append(idx)
            nodes.append(helper.make_node("Gather", [INPUT, idx.name], [pre + "rl_x"], axis=1))
            source = pre + "rl_x"
        own_input = graph.input[0].name
        for node in graph.node:  # read the shared input directly
            node.input[:] = [source if name == own_input else name for name in node.input]
        nodes.extend(graph.node)
        inits.extend(graph.initializer)
        value = pre + manifest.output_name
        if manifest.output_column is not None:  # 1-D indices keep the axis: (rows, 1)
            col = numpy_helper.from_array(np.array([manifest.output_column]), pre + "rl_col")
            inits.append(col)
            nodes.append(helper.make_node("Gather", [value, col.name], [pre + "rl_sel"], axis=1))
            value = pre + "rl_sel"
        elif not _one_column(p.proto, manifest.output_name):
            shape = numpy_helper.from_array(np.array([-1, 1]), pre + "rl_shape")
            inits.append(shape)
            nodes.append(helper.make_node("Reshape", [value, shape.name], [pre + "rl_col"]))
            value = pre + "rl_col"
        columns[_output_type(p.proto, manifest.output_name) or TensorProto.FLOAT].append(value)
    floats, doubles = columns[TensorProto.FLOAT], columns[TensorProto.DOUBLE]
    last = [] if doubles else [OUTPUT]  # the cast is the output unless float64 columns follow
    if floats:
        nodes.append(helper.make_node("Concat", floats, ["rl_floats"], axis=1))
        nodes.append(helper.make_node("Cast", ["rl_floats"], last or ["rl_f64"], to=TensorProto.DOUBLE))
    if doubles:
        nodes.append(helper.make_node("Concat", (["rl_f64"] if floats else []) + doubles, [OUTPUT], axis=1))
    graph = helper.make_graph(
        nodes,
        "ridgeline_composed",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, len(features)])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None, len(parts)])],
        inits,
    )
    opsets = [
        helper.make_opsetid("", opset),
        *(helper.make_opsetid(d, v) for d, v in sorted(parts[0].domains)),
    ]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = max([*(p.proto.ir_version for p in parts), helper.find_min_ir_version_for(opsets)])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _own_outputs(model: LoadedModel, X: F32) -> F64 | None:
    """The model's own session on ``X``, as :meth:`LoadedModel.outputs` but counting nothing."""
    try:
        out = np.asarray(model.session.run([model.manifest.output_name], {model.manifest.input_name: X})[0])
        if model.manifest.output_column is not None:
            out = out[:, model.manifest.output_column]
        values = out.ravel().astype(np.float64)
    except Exception:
        return None
    return values if values.shape[0] == X.shape[0] else None


def _same_bits(a: F64, b: F64) -> bool:
    return bool(np.all((a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))))


def compose_models(
    columns: list[tuple[int, LoadedModel]], features: tuple[str, ...], settings: SessionSettings
) -> Composition | None:
    """One session for as many of ``columns`` (plan column, model) as compose exactly; None when
    fewer than two do. Only the largest group agreeing on every non-default operator domain
    (e.g. ``ai.onnx.ml``) is composed; the default domain is converted to the highest version."""
    protos = [(j, m, proto) for j, m in columns if (proto := _parse(m)) is not None]
    opset = max([MIN_OPSET, *(_default_opset(proto) for _, _, proto in protos)])
    parts = [p for j, m, proto in protos if (p := _part(j, m, proto, opset)) is not None]
    if len(parts) < 2:
        return None
    domains, _ = Counter(p.domains for p in parts).most_common(1)[0]
    parts = [p for p in parts if p.domains == domains]
    parts.sort(key=lambda p: _output_type(p.proto, p.model.manifest.output_name) != TensorProto.FLOAT)
    probe = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_ROWS, len(features))).astype(np.float32)
    for _ in range(2):  # a model that differs on the probe is dropped; the rest must then agree
        if len(parts) < 2:
            return None
        try:
            session = make_session(_graph(parts, features, opset), settings)
            got = session.run([OUTPUT], {INPUT: probe})[0]
        except Exception:  # onnx and onnxruntime raise several unrelated types
            return None
        agree = []
        for k, p in enumerate(parts):
            names = tuple(p.model.manifest.features)
            X = (
                probe
                if names == features
                else np.ascontiguousarray(probe[:, [features.index(n) for n in names]])
            )
            own = _own_outputs(p.model, X)
            agree.append(own is not None and _same_bits(np.ascontiguousarray(got[:, k]), own))
        if all(agree):
            return Composition(session, [(p.column, p.model) for p in parts])
        parts = [p for p, ok in zip(parts, agree, strict=True) if ok]
    return None
