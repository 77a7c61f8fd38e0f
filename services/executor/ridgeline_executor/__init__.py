"""Ridgeline's executor: turns order requests into broker orders and broker events into executions.

A pure core (``orders``: the state machine, the order record, reconciliation planning; accounting
through :class:`ridgeline_shared.accounting.Ledger`) and I/O around it: ``brokers`` (the broker
protocol and its adapters), ``store`` (the order log in Redis), ``engine`` (exactly-once
submission and reconciliation) and ``service`` (the runtime adapter).
"""
