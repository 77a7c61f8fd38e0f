"""Configuration of the Alpaca adapter (alpaca-py's TradingClient)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, SecretStr

from ridgeline_shared.config import FrozenConfig


class AlpacaConfig(FrozenConfig):
    """``paper`` picks Alpaca's paper or live endpoint; ``url`` overrides both (proxies, tests)."""

    venue: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,15}$")] = "alpaca"
    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    paper: bool = True
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Alpaca's order API reports cumulative fills only: the commission booked on a fill
    # synthesised from them (0 for US equities; crypto fees are a fraction of notional).
    commission_bps: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    # Every HTTP call gives up after this many seconds; the outcome of a submit is then unknown
    # and the order stays in flight until reconciliation asks the venue.
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    # Orders listed per GET /v2/orders (Alpaca's maximum is 500).
    page_size: Annotated[int, Field(ge=1, le=500)] = 500
