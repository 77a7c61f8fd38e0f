"""Driving the real compose file from tests: up, wait, read streams, kill, restart, down."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from ridgeline.embedded_redis import free_port
from ridgeline_shared import codec
from ridgeline_shared.keys import Keys, Stream
from ridgeline_shared.messages import Execution, Message, OrderRequest, Watermark

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "predictor", "blender", "risk", "executor")
TOKEN = "system-test-token"


@dataclass
class ComposeStack:
    project: str
    env: dict[str, str]
    ports: dict[str, int]

    @classmethod
    def create(cls, project: str, max_bars: int) -> ComposeStack:
        ports = {name: free_port() for name in (*SERVICES, "redis")}
        env = {
            **os.environ,
            "RIDGELINE_CONTROL_TOKEN": TOKEN,
            "TEST_MAX_BARS": str(max_bars),
            "TEST_REDIS_PORT": str(ports["redis"]),
            **{f"{name.upper()}_PORT": str(ports[name]) for name in SERVICES},
        }
        return cls(project, env, ports)

    def compose(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        command = [
            "docker", "compose", "-p", self.project,
            "-f", str(REPO / "docker-compose.yml"), "-f", str(REPO / "tests/system/compose.test.yml"), *args,
        ]  # fmt: skip
        result = subprocess.run(
            command, check=False, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def up(self) -> None:
        self.compose("up", "-d", "--build", "--wait")

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", check=False)

    def kill(self, service: str) -> None:
        self.compose("kill", "-s", "SIGKILL", service)

    def start(self, service: str) -> None:
        self.compose("start", service)

    def restart(self, service: str) -> None:
        self.compose("restart", service)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def redis(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.ports["redis"], socket_timeout=10)

    def read(self, stream: Stream) -> list[tuple[str, Message | None]]:
        """Every message of a stream, decoded (None where it does not decode), with its entry id
        (``<id>#<position>`` for a frame's messages)."""
        client = self.redis()
        out: list[tuple[str, Message | None]] = []
        entries: Any = client.xrange(Keys().stream(stream))
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            try:
                items = codec.decode_entry(stream, fields)
            except codec.DecodeError:
                out.append((entry_id, None))
                continue
            for index, item in enumerate(items):
                item_id = entry_id if codec.FRAME_FIELD not in fields else f"{entry_id}#{index}"
                out.append((item_id, None if isinstance(item, codec.DecodeError) else item))
        return out

    def finished(self) -> bool:
        try:
            last: Any = self.redis().xrevrange(Keys().stream(Stream.EXECUTIONS), count=20)
        except redis.RedisError:
            return False
        for _, fields in last:
            for message in codec.messages_of(Stream.EXECUTIONS, fields):
                if isinstance(message, Watermark) and message.end_of_data:
                    return True
        return False

    def health(self) -> dict[str, int]:
        with httpx.Client(timeout=5) as client:
            return {name: client.get(f"{self.url(name)}/health").status_code for name in SERVICES}


def order_stream(stack: ComposeStack) -> list[tuple[str, ...]]:
    """The order requests, in order, without traces or wall-clock fields."""
    return [
        (
            m.client_order_id,
            m.symbol,
            m.side.value,
            str(m.quantity),
            str(m.target_position),
            m.event_time.isoformat(),
        )
        for _, m in stack.read(Stream.ORDERS)
        if isinstance(m, OrderRequest)
    ]


def fill_stream(stack: ComposeStack) -> list[tuple[str, ...]]:
    """The fills, sorted by trade id (the executor may publish a recovered fill a tick later)."""
    fills = [
        (m.fill.trade_id, m.client_order_id, str(m.fill.quantity), str(m.fill.price), str(m.fill.commission))
        for _, m in stack.read(Stream.EXECUTIONS)
        if isinstance(m, Execution) and m.fill is not None
    ]
    return sorted(fills)
