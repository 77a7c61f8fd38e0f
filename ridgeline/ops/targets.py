"""Where each service's control plane is: defaults, environment, ``--url SERVICE=URL``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SERVICES: tuple[str, ...] = ("ingest", "predictor", "blender", "risk", "executor")

# The local launcher's ports; the compose file publishes the same host ports.
DEFAULT_PORTS: dict[str, int] = {name: 8101 + i for i, name in enumerate(SERVICES)}


class TargetError(ValueError):
    """A ``--url`` or service name the CLI cannot use; the message is fit for the terminal."""


def env_var(service: str) -> str:
    return f"RIDGELINE_{service.upper()}_URL"


def check_service(name: str) -> str:
    if name not in SERVICES:
        raise TargetError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    return name


def parse_override(text: str) -> tuple[str, str]:
    """``risk=http://host:8104`` -> ``("risk", "http://host:8104")``."""
    name, sep, url = text.partition("=")
    if not sep or not url.strip():
        raise TargetError(f"--url wants SERVICE=URL, got {text!r}")
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise TargetError(f"--url {name}: {url!r} is not an http(s) URL")
    return check_service(name.strip()), url


def resolve(overrides: Iterable[str] = (), env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every service's base URL: ``--url`` over ``RIDGELINE_<SERVICE>_URL`` over the default port."""
    env = env or {}
    urls = {
        name: env.get(env_var(name)) or f"http://127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()
    }
    for text in overrides:
        name, url = parse_override(text)
        urls[name] = url
    return {name: url.rstrip("/") for name, url in urls.items()}
