"""Ridgeline's operator side: the local launcher, the in-process backtest, the report and the CLI."""
