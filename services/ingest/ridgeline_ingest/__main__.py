"""``python -m ridgeline_ingest``: the ingest service (replays the bundled data by default)."""

from __future__ import annotations

from ridgeline_ingest.service import IngestService
from ridgeline_ingest.settings import IngestSettings
from ridgeline_shared.runtime.main import run_service


def main() -> None:
    run_service(IngestService, IngestSettings)


if __name__ == "__main__":
    main()
