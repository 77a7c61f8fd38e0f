"""Models to ONNX bytes: skl2onnx for scikit-learn pipelines, onnxmltools for LightGBM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

INPUT_NAME = "features"
TARGET_OPSET = 15
ML_OPSET = 3


@dataclass(frozen=True)
class Exported:
    data: bytes
    input_name: str
    output_name: str
    output_column: int | None


def to_onnx(model: Any, n_features: int, name: str) -> Exported:
    if isinstance(model, lgb.LGBMClassifier | lgb.LGBMRegressor):
        proto = convert_lightgbm(
            model,
            name=name,
            initial_types=[(INPUT_NAME, MLFloatTensorType([None, n_features]))],
            target_opset=TARGET_OPSET,
            zipmap=False,
        )
    else:
        proto = convert_sklearn(
            model,
            name=name,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
        )
    onnx.checker.check_model(proto)
    outputs = [o.name for o in proto.graph.output]
    if isinstance(model, lgb.LGBMClassifier):
        output_name = "probabilities" if "probabilities" in outputs else outputs[-1]
        column: int | None = 1
    else:
        output_name, column = outputs[0], None
    return Exported(proto.SerializeToString(), INPUT_NAME, output_name, column)
