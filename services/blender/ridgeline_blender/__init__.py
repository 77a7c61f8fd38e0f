"""Ridgeline blender: per-horizon family weights, cost-aware horizon choice, online bandit."""

from ridgeline_blender.config import BlenderConfig, BlenderSettings
from ridgeline_blender.core import Blender

__all__ = ["Blender", "BlenderConfig", "BlenderSettings"]
