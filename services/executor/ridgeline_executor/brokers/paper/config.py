"""Configuration of the paper venue: the MATH.md s.4 fill model's parameters, none a constant."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from ridgeline_shared.config import FrozenConfig

PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class PaperBrokerConfig(FrozenConfig):
    """A market order fills at the next bar's open moved against the trader by half the spread
    plus the square-root impact; limit orders fill when a later bar trades through their price.
    The spread, sigma and ADV are the shared ``market`` section's (MarketConfig), the ones the
    blender costed and risk gated on."""

    venue: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,15}$")] = "paper"
    # The venue account's starting cash (quote currency); matches risk's default portfolio.
    initial_cash: PositiveDecimal = Decimal(100)
    commission_bps: NonNegDecimal = Decimal(1)
    # Commissions are rounded up to this quantum, as venues charge whole minor units.
    commission_quantum: PositiveDecimal = Decimal("1e-12")
    tick_size: PositiveDecimal = Decimal("1e-8")
    tick_sizes: dict[str, PositiveDecimal] = Field(default_factory=dict)
    # Partial fills are cut down to this quantity step.
    quantity_step: PositiveDecimal = Decimal("1e-8")
    # MATH.md s.2 impact coefficient k3 (the venue charges the same impact the cost model expects).
    impact_k3: NonNegative = 1.0
    # At most this fraction of a bar's volume fills per order per bar (None: no cap); the rest
    # keeps working on later bars, which is what produces partial fills.
    max_participation: Annotated[Decimal, Field(gt=0, le=1)] | None = None
    # Refuse buys whose notional at the last close exceeds the venue account's cash.
    check_buying_power: bool = True

    def tick(self, symbol: str) -> Decimal:
        return self.tick_sizes.get(symbol, self.tick_size)
