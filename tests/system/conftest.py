"""The system tier runs whenever a Docker engine answers; otherwise it is skipped with the reason."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import docker_answers


def _compose_available() -> bool:
    if not shutil.which("docker") or not docker_answers():
        return False
    probe = subprocess.run(["docker", "compose", "version"], check=False, capture_output=True, timeout=30)
    return probe.returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(item.get_closest_marker("system") for item in items) and not _compose_available():
        skip = pytest.mark.skip(reason="no Docker engine with compose answers on this machine")
        for item in items:
            if item.get_closest_marker("system"):
                item.add_marker(skip)
