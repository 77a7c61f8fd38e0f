"""Offline training: features and labels from historical bars, purged walk-forward evaluation,
ONNX export with manifests. Needs the ``train`` extra (lightgbm, scikit-learn, skl2onnx,
onnxmltools); serving never imports this package."""
