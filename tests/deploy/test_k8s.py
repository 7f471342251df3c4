"""deploy/k8s/: every manifest, and the dev overlay as kustomize renders it, is valid against
the Kubernetes schemas (kubernetes-validate's, strict: an unknown field fails), offline; and
the objects keep the shape issue 12 asks for: gRPC health probes, autoscaling, the edge,
secrets only by reference."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from tests.deploy.manifests import (
    base_objects,
    container,
    dev_objects,
    find,
    k8s_yaml_files,
    pod_spec,
)
from tools.kustomize_subset import load_documents

VERSION = latest_version()
SECRET_KEYS = {
    "BOTMESH_DATABASE_URL",
    "BOTMESH_API_KEY_PEPPER",
    "BOTMESH_INTERNAL_TOKEN",
    "BOTMESH_KEYRING",
}


def validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, VERSION, strict=True)


@pytest.mark.parametrize("path", k8s_yaml_files(), ids=lambda p: str(p.name))
def test_every_manifest_file_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    documents = load_documents(path)
    assert documents
    for obj in documents:
        validate(obj)


def test_the_dev_overlay_renders_to_valid_objects(tmp_path: Path) -> None:
    objects = dev_objects(tmp_path)
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "Namespace",
        "Secret",
        "Service",
    ]
    for obj in objects:
        validate(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "botmesh-dev", obj["metadata"]


def test_the_validator_rejects_a_broken_deployment() -> None:
    deployment = copy.deepcopy(find(base_objects(), "Deployment", "trading-svc"))
    # A gRPC probe's port must be a number (unlike httpGet's, it takes no port name).
    pod_spec(deployment)["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    misspelt = copy.deepcopy(find(base_objects(), "Deployment", "trading-svc"))
    misspelt["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(misspelt)


@pytest.mark.parametrize("name", ["credential-svc", "trading-svc", "analysis-svc"])
def test_each_service_is_probed_on_its_grpc_health_service(name: str) -> None:
    objects = base_objects()
    deployment = find(objects, "Deployment", name)
    service = container(deployment)
    port = service["ports"][0]["containerPort"]
    assert service["readinessProbe"]["grpc"] == {"port": port}
    assert service["livenessProbe"]["grpc"] == {"port": port}
    # Headless: Envoy's STRICT_DNS cluster and the other services resolve every pod.
    headless = find(objects, "Service", name)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_trading_and_analysis_autoscale_and_credential_does_not() -> None:
    objects = base_objects()
    scaled = {
        o["spec"]["scaleTargetRef"]["name"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled == {"trading-svc", "analysis-svc"}
    for name in scaled:
        target = find(objects, "HorizontalPodAutoscaler", name)["spec"]["scaleTargetRef"]
        assert (target["kind"], target["apiVersion"]) == ("Deployment", "apps/v1")
        assert find(objects, "Deployment", name)
        # CPU utilisation needs a CPU request to measure against.
        assert container(find(objects, "Deployment", name))["resources"]["requests"]["cpu"]


def test_the_edge_renders_its_config_in_an_init_container_that_envoy_reads() -> None:
    objects = base_objects()
    edge = find(objects, "Deployment", "envoy")
    (render,) = pod_spec(edge)["initContainers"]
    envoy = container(edge, "envoy")
    assert render["command"][:4] == ["botmesh", "gateway", "render", "--out"]
    out = render["command"][4]
    mounts = {m["name"]: m["mountPath"] for m in render["volumeMounts"]}
    envoy_mounts = {m["name"]: m["mountPath"] for m in envoy["volumeMounts"]}
    assert mounts["gateway-config"] == envoy_mounts["gateway-config"] == out
    assert envoy["args"][:2] == ["-c", f"{out}/envoy.json"]
    volumes = {v["name"]: v for v in pod_spec(edge)["volumes"]}
    assert volumes["gateway-config"] == {"name": "gateway-config", "emptyDir": {}}
    # The renderer gets settings, never secrets.
    assert all("secretRef" not in source for source in render["envFrom"])
    service = find(objects, "Service", "envoy")
    assert service["spec"]["ports"][0]["targetPort"] == envoy["ports"][0]["name"]


def test_the_edge_terminates_tls_with_the_certificate_secret(tmp_path: Path) -> None:
    """ICP HTTPS outcalls need TLS: the renderer names the certificate at the path where
    Envoy mounts the botmesh-edge-tls Secret, which the dev overlay generates from files."""
    edge = find(base_objects(), "Deployment", "envoy")
    (render,) = pod_spec(edge)["initContainers"]
    env = {e["name"]: e["value"] for e in render["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container(edge, "envoy")["volumeMounts"]}
    assert env["BOTMESH_TLS_CERT_FILE"] == f"{mounts['edge-tls']}/tls.crt"
    assert env["BOTMESH_TLS_KEY_FILE"] == f"{mounts['edge-tls']}/tls.key"
    volumes = {v["name"]: v for v in pod_spec(edge)["volumes"]}
    assert volumes["edge-tls"]["secret"]["secretName"] == "botmesh-edge-tls"
    secret = find(dev_objects(tmp_path), "Secret", "botmesh-edge-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE")


def test_secrets_are_only_referenced_in_the_base_and_generated_by_the_overlay(
    tmp_path: Path,
) -> None:
    base = base_objects()
    assert not [o for o in base if o["kind"] == "Secret"]
    for obj in base:
        if obj["kind"] in ("Deployment", "Job"):
            for c in container_list(obj):
                for source in c.get("envFrom", []):
                    assert source.get("secretRef", {}).get("name", "botmesh-secrets") == (
                        "botmesh-secrets"
                    )
                assert not SECRET_KEYS & {e["name"] for e in c.get("env", [])}
    config = find(base, "ConfigMap", "botmesh-settings")["data"]
    assert not SECRET_KEYS & set(config)
    secret = find(dev_objects(tmp_path), "Secret", "botmesh-secrets")
    assert set(secret["data"]) == SECRET_KEYS
    for value in secret["data"].values():
        assert "REPLACE_WITH" in base64.b64decode(value).decode()  # placeholders, never real


def container_list(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    return [*spec["containers"], *spec.get("initContainers", [])]


def test_the_migration_job_runs_botmesh_migrate_with_settings_and_secrets() -> None:
    job = find(base_objects(), "Job", "botmesh-migrate")
    migrate = container(job)
    assert migrate["command"] == ["botmesh", "migrate"]
    assert {tuple(s) for s in migrate["envFrom"]} == {("configMapRef",), ("secretRef",)}
    assert pod_spec(job)["restartPolicy"] == "OnFailure"


def test_the_dev_overlay_pins_the_image_and_patches_what_it_says(tmp_path: Path) -> None:
    objects = dev_objects(tmp_path)
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            for c in container_list(obj):
                image = c["image"]
                assert image == "botmesh:dev" or not image.startswith("botmesh"), image
    assert find(objects, "ConfigMap", "botmesh-settings")["data"]["BOTMESH_EXCHANGE_VENUE"] == "sim"
    assert find(objects, "Service", "envoy")["spec"]["type"] == "ClusterIP"
    hpa = find(objects, "HorizontalPodAutoscaler", "trading-svc")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 2)
    # The patch kept what it did not name.
    assert (
        hpa["metrics"]
        == find(base_objects(), "HorizontalPodAutoscaler", "trading-svc")["spec"]["metrics"]
    )
