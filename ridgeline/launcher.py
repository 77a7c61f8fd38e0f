"""The local launcher: an embedded Redis and the five services as processes on this machine.

It is the single-host equivalent of ``docker compose up``: same images' entry points, same
environment variables, same ports on the host (8101-8105).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from ridgeline.embedded_redis import EmbeddedRedis, start_redis

SERVICES = ("ingest", "predictor", "blender", "risk", "executor")
BASE_PORT = 8100
PORTS = {name: BASE_PORT + i for i, name in enumerate(SERVICES, start=1)}
COLOURS = {"ingest": 36, "predictor": 35, "blender": 34, "risk": 33, "executor": 32}


class LaunchError(RuntimeError):
    """A service could not start; the message names it and shows its last log lines."""


def _pretty(line: str) -> str:
    """JSON log records shown as ``LEVEL logger: message``; other lines as they are."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "msg" not in record:
        return line
    extra = f" [{record['trace_id']}]" if record.get("trace_id") else ""
    return f"{record.get('level', '')[:4]:4} {record['msg']}{extra}"


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[str]
    log_path: Path
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stack:
    """Redis plus the five services; ``stop`` (also on Ctrl-C) ends them all."""

    def __init__(
        self,
        run_dir: Path,
        env: Mapping[str, str],
        redis_url: str | None = None,
        echo: Callable[[str], None] = print,
        quiet_logs: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.env = dict(env)
        self.echo = echo
        self.quiet_logs = quiet_logs
        self.redis: EmbeddedRedis | None = None
        self.redis_url = redis_url or ""
        self.token = self.env.get("RIDGELINE_HTTP__CONTROL_TOKEN") or secrets.token_urlsafe(24)
        self.processes: dict[str, ServiceProcess] = {}
        self._colour = sys.stdout.isatty()

    # -- start ---------------------------------------------------------------------------------
    def start(self, startup_timeout: float = 120.0) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        if not self.redis_url:
            self.redis = start_redis(self.run_dir / "redis")
            self.redis_url = self.redis.url
            version = ".".join(map(str, self.redis.version))
            self.echo(f"redis {version} on {self.redis_url} (AOF in {self.run_dir / 'redis'})")
        for name in SERVICES:
            self.processes[name] = self._spawn(name)
        self._wait_healthy(startup_timeout)

    def _spawn(self, name: str) -> ServiceProcess:
        env = {
            **os.environ,
            **self.env,
            "RIDGELINE_REDIS_URL": self.redis_url,
            "RIDGELINE_HTTP__HOST": "127.0.0.1",
            "RIDGELINE_HTTP__PORT": str(PORTS[name]),
            "RIDGELINE_HTTP__CONTROL_TOKEN": self.token,
            "PYTHONUNBUFFERED": "1",
        }
        log_path = self.run_dir / "logs" / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", f"ridgeline_{name}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops children in order
        )
        proc = ServiceProcess(name, PORTS[name], process, log_path)
        threading.Thread(target=self._pump, args=(proc,), daemon=True, name=f"log-{name}").start()
        return proc

    def _pump(self, proc: ServiceProcess) -> None:
        stream: IO[str] | None = proc.process.stdout
        if stream is None:
            return
        with proc.log_path.open("a") as log_file:
            for line in stream:
                log_file.write(line)
                log_file.flush()
                text = line.rstrip("\n")
                proc.tail.append(text)
                if not self.quiet_logs:
                    self.echo(self._prefix(proc.name) + _pretty(text))

    def _prefix(self, name: str) -> str:
        label = f"{name:9}|"
        return f"\033[{COLOURS[name]}m{label}\033[0m " if self._colour else f"{label} "

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.processes)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name in sorted(pending):
                    proc = self.processes[name]
                    code = proc.process.poll()
                    if code is not None:
                        time.sleep(0.2)  # let the log pump drain the last lines
                        tail = "\n    ".join(list(proc.tail)[-15:]) or "(no output)"
                        raise LaunchError(
                            f"service {name} exited with status {code} during start-up; "
                            f"last output:\n    {tail}\n(full log: {proc.log_path})"
                        )
                    try:
                        if client.get(f"{proc.url}/health").status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise LaunchError(
                        f"services not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}"
                    )
                if pending:
                    time.sleep(0.2)
        self.echo("all five services healthy: " + ", ".join(f"{n}:{p}" for n, p in PORTS.items()))

    # -- watch ---------------------------------------------------------------------------------
    def dead(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.process.poll() is not None]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with httpx.Client(timeout=2.0) as client:
            for name, proc in self.processes.items():
                try:
                    out[name] = client.get(f"{proc.url}/status").json()
                except (httpx.HTTPError, ValueError):
                    out[name] = None
        return out

    # -- stop ----------------------------------------------------------------------------------
    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to every service (upstream first), SIGKILL after ``grace``, then Redis."""
        for proc in self.processes.values():
            if proc.process.poll() is None:
                proc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()
        if self.redis is not None:
            self.redis.stop()
