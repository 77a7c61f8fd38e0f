"""Per-symbol market statistics and the cost model, shared by blender, risk and executor so that
all three see the same volatility, spread and impact for the same bars."""

from ridgeline_shared.market.costs import CostModel, impact_bps
from ridgeline_shared.market.stats import MarketStats

__all__ = ["CostModel", "MarketStats", "impact_bps"]
