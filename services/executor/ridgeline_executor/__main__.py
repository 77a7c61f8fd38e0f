"""``python -m ridgeline_executor``: run the executor service."""

from __future__ import annotations

from ridgeline_executor.config import ExecutorSettings
from ridgeline_executor.service import ExecutorService
from ridgeline_shared.runtime.main import run_service


def main() -> None:
    run_service(ExecutorService, ExecutorSettings)


if __name__ == "__main__":
    main()
