"""Ridgeline risk: gates, sizing, guardrails and trading state -> order requests (MATH.md s.3)."""

from ridgeline_risk.config import LimitsUpdate, RiskConfig, RiskLimits, RiskSettings
from ridgeline_risk.engine import RiskEngine

__all__ = ["LimitsUpdate", "RiskConfig", "RiskEngine", "RiskLimits", "RiskSettings"]
