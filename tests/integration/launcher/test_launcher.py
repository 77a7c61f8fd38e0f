"""The local launcher: the main job end to end on a slice, and a clear failure when a service
cannot start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ridgeline.launcher import LaunchError, Stack

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_run_replays_a_slice_and_writes_the_report(tmp_path: Path) -> None:
    """`ridgeline run` with its own embedded Redis and five service processes."""
    env_overrides = {"RIDGELINE_INGEST__MAX_BARS": "600", "RIDGELINE_BLENDER__COST__K2": "0"}
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ridgeline.cli",
            "run",
            "--out",
            str(out),
            "--quiet",
            "--symbols",
            "ETHBTC,LTCBTC",
        ],
        cwd=REPO,
        env={**os.environ, **env_overrides},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replay finished" in result.stdout
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert metrics["finished"] is True
    assert metrics["ticks"] == 300
    assert (out / "report" / "report.html").stat().st_size > 100_000
    assert {f"{name}.log" for name in ("ingest", "predictor", "blender", "risk", "executor")} <= {
        p.name for p in (out / "logs").iterdir()
    }


def test_a_service_that_dies_at_start_stops_the_launch_with_its_reason(tmp_path: Path) -> None:
    stack = Stack(tmp_path, {"RIDGELINE_RISK__MAX_WEIGHT": "lots"}, quiet_logs=True)
    try:
        with pytest.raises(LaunchError) as info:
            stack.start(startup_timeout=120)
    finally:
        stack.stop()
    message = str(info.value)
    assert "service risk exited with status 2" in message
    assert "risk.max_weight [RIDGELINE_RISK__MAX_WEIGHT]" in message
    assert all(proc.process.poll() is not None for proc in stack.processes.values())
