"""``python -m ridgeline_blender``."""

from __future__ import annotations

from ridgeline_blender.config import BlenderSettings
from ridgeline_blender.service import BlenderService
from ridgeline_shared.runtime.main import run_service


def main() -> None:
    run_service(BlenderService, BlenderSettings)


if __name__ == "__main__":
    main()
