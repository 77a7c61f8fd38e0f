"""ruff and mypy run as part of the suite, so CI refuses code that is not lint- and type-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "shared/ridgeline_shared",
    *(f"services/{name}/ridgeline_{name}" for name in ("ingest", "predictor", "blender", "risk", "executor")),
    "ridgeline",
]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, timeout=600)


def test_ruff_lint_and_format() -> None:
    lint = run(sys.executable, "-m", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    style = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert style.returncode == 0, style.stdout[-4000:]


def test_mypy_strict_on_every_package() -> None:
    result = run(sys.executable, "-m", "mypy", *PACKAGES)
    assert result.returncode == 0, result.stdout[-4000:]
