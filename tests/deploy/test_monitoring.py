"""deploy/monitoring/: the Prometheus scrape config, the alert rules and the Grafana
dashboard are well formed, scrape where the mesh serves metrics by default, and use only
metrics a live mesh exports.

The PromQL of every rule and panel is parsed (promql-parser, the Prometheus grammar), and
every series it selects must be in a scrape of the running mesh's processes and Envoy (a
counter's `_total`, a histogram's `_bucket`/`_sum`/`_count` by their family), so a metric
renamed in code cannot leave a rule silently matching nothing. `up` is Prometheus's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from cli import topology
from cli.launcher import Mesh
from mesh.settings import ROOT, load_settings
from tests.e2e.metrics_support import Scrape, scrape_all
from tests.e2e.runtime_support import eventually

MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS_OWN = {"up"}
SUFFIXES = {"_total": "counter", "_bucket": "histogram", "_sum": "histogram", "_count": "histogram"}
SERVICES = ("credential_svc", "trading_svc", "analysis_svc")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    return [r for g in _yaml(MONITORING / "alerts.yml")["groups"] for r in g["rules"]]


def dashboard() -> dict[str, Any]:
    return dict(json.loads((MONITORING / "grafana/dashboards/botmesh.json").read_text()))


def exprs() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert rule and dashboard target."""
    found = [(f"alert {r['alert']}", str(r["expr"])) for r in rules()]
    for panel in dashboard()["panels"]:
        found += [(f"panel {panel['title']!r}", t["expr"]) for t in panel.get("targets", [])]
    return found


def selected(node: Any) -> Iterator[str]:
    """The metric names a parsed PromQL expression selects."""
    kind = type(node).__name__
    if kind == "VectorSelector":
        yield node.name or next(m.value for m in node.matchers.matchers if m.name == "__name__")
        return
    if kind == "MatrixSelector":
        yield from selected(node.vector_selector)
        return
    for attr in ("lhs", "rhs", "expr", "param"):
        child = getattr(node, attr, None)
        if child is not None:
            yield from selected(child)
    for arg in getattr(node, "args", None) or []:
        yield from selected(arg)


def test_prometheus_scrapes_every_service_and_envoy_where_they_serve_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("METRICS_PORT", "ENVOY_METRICS_PORT"):
        monkeypatch.delenv(f"BOTMESH_{name}", raising=False)
    defaults = load_settings()
    config = _yaml(MONITORING / "prometheus.yml")
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {*SERVICES, "envoy"}
    for service in SERVICES:
        # The job keeps the process name (the alert rules' label); DNS finds compose's service.
        (sd,) = jobs[service]["dns_sd_configs"]
        host = topology.spec(service).dns_name
        assert (sd["names"], sd["type"], sd["port"]) == ([host], "A", defaults.metrics_port)
    (static,) = jobs["envoy"]["static_configs"]
    assert static["targets"] == [f"envoy:{defaults.envoy_metrics_port}"]
    assert jobs["envoy"]["metrics_path"] == "/metrics"


def test_the_alert_rules_cover_errors_tick_lag_unknown_orders_and_circuit_breakers() -> None:
    by_name = {r["alert"]: r for r in rules()}
    assert len(by_name) == len(rules()), "alert names are unique"
    for rule in by_name.values():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warn")
        assert rule["annotations"]["summary"]
    uses = {name: set(selected(promql_parser.parse(r["expr"]))) for name, r in by_name.items()}
    assert "botmesh_rpc_total" in uses["BotmeshRpcErrorRate"]
    assert "botmesh_runtime_tick_lag_seconds_bucket" in uses["BotmeshTickLag"]
    assert uses["BotmeshUnknownOrders"] == {"botmesh_orders_unknown_stale"}
    assert uses["BotmeshCircuitBreakerOpen"] == {"botmesh_circuit_breakers_open"}


def test_the_dashboard_and_its_provisioning_are_well_formed() -> None:
    board = dashboard()
    assert board["uid"] == "botmesh" and board["panels"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "prometheus"
            promql_parser.parse(target["expr"])  # raises on a malformed expression
    provisioning = MONITORING / "grafana" / "provisioning"
    (source,) = _yaml(provisioning / "datasources/prometheus.yml")["datasources"]
    assert (source["uid"], source["url"]) == ("prometheus", "http://prometheus:9090")
    (provider,) = _yaml(provisioning / "dashboards/botmesh.yml")["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"


def exported(name: str, scrapes: dict[str, Scrape]) -> bool:
    for scraped in scrapes.values():
        if scraped.has(name):
            return True
        for suffix in SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in scraped.families:
                return True
    return False


async def test_every_metric_the_rules_and_the_dashboard_use_is_exported_by_a_live_mesh(
    mesh: Mesh,
) -> None:
    used = {name: where for where, expr in exprs() for name in selected(promql_parser.parse(expr))}
    assert len(used) >= 15

    async def complete() -> dict[str, Scrape] | None:
        # The store gauges appear once trading_svc has read them (at start).
        scrapes = await scrape_all(mesh)
        missing = [n for n in used if n not in PROMETHEUS_OWN and not exported(n, scrapes)]
        return None if missing else scrapes

    try:
        await eventually(complete, "every metric used", timeout_s=30)
    except AssertionError:
        scrapes = await scrape_all(mesh)
        missing = {
            n: w for n, w in used.items() if n not in PROMETHEUS_OWN and not exported(n, scrapes)
        }
        raise AssertionError(f"not exported by the mesh: {missing}") from None
