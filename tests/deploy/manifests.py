"""The deployment files as the tests read them: docker-compose.yml with its YAML anchors and
merge keys resolved (as Compose resolves them), the Kubernetes base, and the dev overlay
rendered by tools/kustomize_subset.py from a copy whose secrets.env is the committed example
(as an operator's first `cp` makes it)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from cli.dev_ca import ensure_dev_certificates
from mesh.settings import ROOT
from tools import kustomize_subset

COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
DEV = K8S / "overlays" / "dev"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def base_objects() -> list[dict[str, Any]]:
    return kustomize_subset.build(BASE)


def dev_objects(tmp_path: Path) -> list[dict[str, Any]]:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    shutil.copyfile(DEV / "secrets.env.example", copy / "overlays" / "dev" / "secrets.env")
    certs = ensure_dev_certificates(tmp_path / "state")
    shutil.copyfile(certs.server_cert_file, copy / "overlays" / "dev" / "tls.crt")
    shutil.copyfile(certs.server_key_file, copy / "overlays" / "dev" / "tls.key")
    return kustomize_subset.build(copy / "overlays" / "dev")


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KeyError(f"no {kind} named {name}")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The pod's container named `name` (default: its only one)."""
    containers = pod_spec(obj)["containers"]
    if name is None:
        assert len(containers) == 1, [c["name"] for c in containers]
        return dict(containers[0])
    return dict(next(c for c in containers if c["name"] == name))


def k8s_yaml_files() -> list[Path]:
    """Every manifest file under deploy/k8s/ but the kustomizations and patches (partial
    objects by design; validated in the rendered overlay)."""
    return sorted(
        p
        for p in K8S.rglob("*.yaml")
        if p.name != "kustomization.yaml" and "patches" not in p.parts
    )
