"""Ridgeline ingest: turns historical files, a live provider stream or a seeded generator into
validated, interval-aligned bars on the bars stream, one event-time tick at a time."""
