"""Ridgeline predictor: features from each symbol's bars, every horizon x family ONNX model in one
batched call per tick, standardised and confidence-weighted scores (MATH.md s.1)."""
