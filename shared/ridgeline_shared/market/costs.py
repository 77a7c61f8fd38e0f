"""MATH.md s.2 cost model, in bps:
``cost_h = k1 spread + k2 sigma sqrt(h/5) + k3 sigma_daily sqrt(q/ADV)``.

**Decision** (MATH.md): the impact term is the square-root law scaled by daily volatility, so every
term is in bps. The paper broker charges half the spread plus the same impact term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def impact_bps(sigma_daily_bps: float, quantity: float, adv: float | None, k3: float = 1.0) -> float:
    """Square-root impact; with no volume history the participation is unknown and counted as 0."""
    if not adv or adv <= 0 or quantity <= 0:
        return 0.0
    return k3 * sigma_daily_bps * math.sqrt(quantity / adv)


@dataclass(frozen=True, slots=True)
class CostModel:
    k1: float = 1.0
    k2: float = 0.15
    k3: float = 1.0

    def cost_bps(
        self,
        spread_bps: float,
        sigma_bps: float,
        horizon_minutes: float,
        sigma_daily_bps: float,
        quantity: float,
        adv: float | None,
    ) -> float:
        timing = self.k2 * sigma_bps * math.sqrt(horizon_minutes / 5.0)
        return self.k1 * spread_bps + timing + impact_bps(sigma_daily_bps, quantity, adv, self.k3)
