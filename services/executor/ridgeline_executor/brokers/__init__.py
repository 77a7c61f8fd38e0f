"""Broker adapters behind one protocol (:mod:`.base`), one sub-package per venue, each with the
same file set: ``config`` (its settings), ``broker`` (the adapter) and its own helpers (the paper
venue's ``matching`` and ``state``, Alpaca's ``parsing``)."""

from ridgeline_executor.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderSpec,
)

__all__ = [
    "Broker",
    "BrokerAccount",
    "BrokerError",
    "BrokerFill",
    "BrokerOrder",
    "BrokerPosition",
    "BrokerUnavailableError",
    "DuplicateClientOrderIdError",
    "OrderSpec",
]
