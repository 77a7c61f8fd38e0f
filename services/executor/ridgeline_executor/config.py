"""The executor's settings: ``RIDGELINE_EXECUTOR__...`` or the ``executor:`` YAML section."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ridgeline_executor.brokers.alpaca.config import AlpacaConfig
from ridgeline_executor.brokers.paper.config import PaperBrokerConfig
from ridgeline_shared.config import FrozenConfig, ServiceSettings


class ExecutorConfig(FrozenConfig):
    broker: Literal["paper", "alpaca"] = "paper"
    paper: PaperBrokerConfig = PaperBrokerConfig()
    alpaca: AlpacaConfig = AlpacaConfig()
    # Periodic reconciliation with the broker between ticks (paper and live modes), in seconds.
    reconcile_interval_s: Annotated[float, Field(gt=0)] = 60.0
    # Between ticks, working orders are polled for venue updates at most this often (seconds).
    poll_interval_s: Annotated[float, Field(gt=0)] = 1.0
    # Closed orders kept in memory (and in the snapshot) for GET /orders; the Redis log keeps all.
    retain_closed_orders: Annotated[int, Field(ge=0, le=1_000_000)] = 200
    # Fills kept in the Redis fill list behind GET /fills.
    retain_fills: Annotated[int, Field(ge=100)] = 100_000
    # Risk commands remembered for deduplication of redelivered commands.
    command_window: Annotated[int, Field(ge=10)] = 1000

    @model_validator(mode="after")
    def _alpaca_credentials(self) -> ExecutorConfig:
        if self.broker == "alpaca" and (self.alpaca.api_key is None or self.alpaca.secret_key is None):
            raise ValueError("broker 'alpaca' needs executor.alpaca.api_key and executor.alpaca.secret_key")
        return self


class ExecutorSettings(ServiceSettings):
    executor: ExecutorConfig = ExecutorConfig()
