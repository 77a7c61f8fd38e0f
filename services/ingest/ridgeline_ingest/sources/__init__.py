"""Bar sources behind one protocol (:class:`~ridgeline_ingest.sources.base.BarSource`):
historical files, a seeded generator, a live provider stream."""

from ridgeline_ingest.sources.base import BarSource, MergedSource, SymbolStream

__all__ = ["BarSource", "MergedSource", "SymbolStream"]
