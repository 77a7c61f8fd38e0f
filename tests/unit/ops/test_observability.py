"""The observability profile's files: every PromQL expression of the Grafana dashboard names only
metrics the services export (with their labels), Prometheus scrapes the five services, Grafana's
provisioning points at that dashboard, and Redis is configured durable."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from ridgeline_shared.runtime import metrics

pytestmark = pytest.mark.unit

INFRA = Path(__file__).resolve().parents[3] / "infra"
DASHBOARD = INFRA / "grafana" / "dashboards" / "ridgeline-pipeline.json"
SERVICES = ("ingest", "predictor", "blender", "risk", "executor")

# Metrics the risk and executor services export on top of the runtime's (sample name -> labels).
SERVICE_METRICS: dict[str, frozenset[str]] = {
    "ridgeline_orders_total": frozenset({"service", "status"}),
    "ridgeline_denials_total": frozenset({"reason"}),
    "ridgeline_equity": frozenset(),
    "ridgeline_pnl_realized": frozenset(),
    "ridgeline_trading_state": frozenset({"state"}),
    "ridgeline_fills_total": frozenset(),
}
# Series Prometheus itself adds: `up` per target, and `job`/`instance` on every scraped series.
SCRAPE_METRICS: dict[str, frozenset[str]] = {"up": frozenset()}
TARGET_LABELS = frozenset({"job", "instance"})

_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def runtime_metrics() -> dict[str, frozenset[str]]:
    """Sample names exposed by ``ridgeline_shared.runtime.metrics`` -> their label names."""
    found: dict[str, frozenset[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = frozenset(collector._labelnames)
        for family in collector.describe():
            for suffix in _SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                found[family.name + suffix] = labels | extra
    return found


KNOWN = {**runtime_metrics(), **SERVICE_METRICS, **SCRAPE_METRICS}

# PromQL words that are not metric names: functions are followed by "(", these may not be.
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}
)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
_IDENT = re.compile(r"(?<![\w$.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")


def parse_promql(expr: str) -> tuple[set[str], list[tuple[str | None, set[str]]], set[str]]:
    """(metric names, (selector metric, matcher labels) pairs, grouping labels) of an expression."""
    text = re.sub(r"\$\{?\w+\}?", "X", expr)  # Grafana variables ($service, $__rate_interval)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    selectors = [(m.group(1), set(_MATCHER.findall(m.group(2)))) for m in _SELECTOR.finditer(text)]
    text = re.sub(r"\{[^}]*\}", "", text)
    grouping = {
        label.strip() for m in _GROUPING.finditer(text) for label in m.group(2).split(",") if label.strip()
    }
    text = _GROUPING.sub(" ", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    names = {name for name in _IDENT.findall(text) if name not in _KEYWORDS and not name.startswith("__")}
    return names, selectors, grouping


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def expressions() -> list[tuple[str, str]]:
    board = dashboard()
    found = [(p["title"], t["expr"]) for p in panels(board["panels"]) for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        assert inner, f"variable {variable['name']}: unexpected query {query!r}"
        found.append((f"${variable['name']}", f"count by ({inner.group(2)}) ({inner.group(1)})"))
    return found


def test_the_parser_catches_unknown_metrics_and_labels() -> None:
    names, selectors, grouping = parse_promql(
        "histogram_quantile(0.99, sum by (service, le) (rate(ridgeline_nope_seconds_bucket"
        '{service=~"$service", colour="red"}[$__rate_interval]))) / on (service) group_left ridgeline_paused'
    )
    assert names == {"ridgeline_nope_seconds_bucket", "ridgeline_paused"}
    assert selectors == [("ridgeline_nope_seconds_bucket", {"service", "colour"})]
    assert grouping == {"service", "le"}


def test_runtime_metrics_are_read_from_the_shared_module() -> None:
    assert KNOWN["ridgeline_handler_seconds_bucket"] == {"service", "le"}
    assert KNOWN["ridgeline_messages_out_total"] == {"service", "stream"}
    assert KNOWN["ridgeline_paused"] == {"service"}
    assert "ridgeline_messages_out" not in KNOWN


@pytest.mark.parametrize(("title", "expr"), expressions())
def test_dashboard_queries_name_only_exported_metrics_and_labels(title: str, expr: str) -> None:
    names, selectors, grouping = parse_promql(expr)
    assert names, f"{title}: no metric in {expr!r}"
    unknown = names - KNOWN.keys()
    assert not unknown, f"{title}: unknown metric(s) {sorted(unknown)} in {expr!r}"
    for metric, labels in selectors:
        assert metric is not None, f"{title}: selector without a metric name in {expr!r}"
        assert labels <= KNOWN[metric] | TARGET_LABELS, (
            f"{title}: {metric} has no label(s) {labels - KNOWN[metric]}"
        )
    available = set().union(*(KNOWN[n] for n in names)) | TARGET_LABELS
    assert grouping <= available, f"{title}: grouping by {grouping - available} in {expr!r}"


def test_dashboard_covers_the_pipeline() -> None:
    exprs = " ".join(expr for _, expr in expressions())
    for needed in (
        "ridgeline_messages_out_total",
        "ridgeline_output_lag_entries",
        "histogram_quantile(0.5, sum by (service, le) (rate(ridgeline_handler_seconds_bucket",
        "histogram_quantile(0.99, sum by (service, le) (rate(ridgeline_handler_seconds_bucket",
        "histogram_quantile(0.5, sum by (service, le) (rate(ridgeline_end_to_end_seconds_bucket",
        "histogram_quantile(0.99, sum by (service, le) (rate(ridgeline_end_to_end_seconds_bucket",
        "ridgeline_dead_letters_total",
        "sum by (service, status) (increase(ridgeline_orders_total",
        "sum by (reason) (increase(ridgeline_denials_total",
        "ridgeline_equity",
        "ridgeline_pnl_realized",
        "ridgeline_trading_state",
        "ridgeline_paused",
    ):
        assert needed in exprs, needed


def test_dashboard_layout_and_datasource() -> None:
    board = dashboard()
    datasources = yaml.safe_load((INFRA / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    occupied: set[tuple[int, int]] = set()
    ids = set()
    for panel in panels(board["panels"]):
        assert panel["id"] not in ids
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"]), panel["title"]
    assert board["uid"] == "ridgeline-pipeline"


def test_grafana_loads_dashboards_from_the_mounted_folder() -> None:
    config = yaml.safe_load((INFRA / "grafana/provisioning/dashboards/ridgeline.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_prometheus_scrapes_the_five_services_every_5s() -> None:
    config = yaml.safe_load((INFRA / "prometheus/prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "ridgeline"]
    targets = [t for static in job["static_configs"] for t in static["targets"]]
    assert sorted(targets) == sorted(f"{s}:8000" for s in SERVICES)
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job.get("scrape_interval", config["global"]["scrape_interval"]) == "5s"
    (relabel,) = job["relabel_configs"]
    assert all(re.fullmatch(relabel["regex"], t) for t in targets)


def test_redis_is_durable_and_never_evicts() -> None:
    directives: dict[str, str] = {}
    for line in (INFRA / "redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            directives[key] = value.strip()
    assert directives["appendonly"] == "yes"
    assert directives["appendfsync"] == "everysec"
    assert directives["maxmemory-policy"] == "noeviction"
    assert directives["maxmemory"] == "2gb"
    assert directives["save"] == '""'
