"""Fixtures shared by every tier. Redis is always real: a testcontainers ``redis:7`` container
where a Docker engine answers, otherwise a ``redis-server`` process started on a free port."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ridgeline.embedded_redis import running_redis

REPO = Path(__file__).resolve().parents[1]
# Ryuk (testcontainers' reaper) is an image of its own that offline machines cannot pull; the
# fixtures stop their containers themselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def docker_answers() -> bool:
    try:
        probe = subprocess.run(["docker", "info"], check=False, capture_output=True, timeout=15)
        return probe.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    backend = os.environ.get("RIDGELINE_TEST_REDIS", "auto")
    if backend in ("auto", "container") and docker_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    with running_redis(aof=False) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A clean database for each test."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushall()
    yield redis_server_url
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
