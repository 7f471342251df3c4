"""tools/kustomize_subset.py renders what `kustomize build` would for the subset it knows,
and refuses everything else rather than render it differently."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.kustomize_subset import build, merge


def write(folder: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return folder


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "initContainers": [{"name": "init", "image": "app"}],
                "containers": [
                    {"name": "web", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "side", "image": "proxy:2"},
                ],
            }
        },
    },
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}


def test_an_overlay_gets_its_base_transformed_patched_and_its_secrets(tmp_path: Path) -> None:
    write(
        tmp_path / "base",
        {
            "kustomization.yaml": {
                "resources": ["web.yaml"],
                "labels": [{"pairs": {"part-of": "x"}}],
            },
            "web.yaml": DEPLOYMENT,
        },
    )
    overlay = write(
        tmp_path / "dev",
        {
            "kustomization.yaml": {
                "namespace": "dev",
                "resources": ["../base", "ns.yaml"],
                "images": [{"name": "app", "newName": "registry/app", "newTag": "dev"}],
                "secretGenerator": [{"name": "s", "envs": ["s.env"]}],
                "generatorOptions": {"disableNameSuffixHash": True},
                "patches": [{"path": "p.yaml"}],
            },
            "ns.yaml": NAMESPACE,
            "s.env": "# a comment\nKEY=v=1\n\n",
            "p.yaml": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 1,
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "web", "env": [{"name": "B", "value": "2"}]},
                            ]
                        }
                    },
                },
            },
        },
    )
    web, namespace, secret = build(overlay)
    assert web["metadata"] == {"name": "web", "namespace": "dev", "labels": {"part-of": "x"}}
    assert namespace["metadata"] == {"name": "dev"}  # cluster-scoped: no namespace
    assert web["spec"]["replicas"] == 1
    containers = web["spec"]["template"]["spec"]["containers"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert [c["image"] for c in containers] == ["registry/app:dev", "proxy:2"]
    assert web["spec"]["template"]["spec"]["initContainers"][0]["image"] == "registry/app:dev"
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "s"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"KEY": "v=1"}


def test_merge_replaces_lists_without_names_and_scalars() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": [1, 2]}, "d": [{"name": "x", "v": 1}]}
    patch = {"a": {"c": [3]}, "d": [{"name": "y", "v": 2}]}
    assert merge(base, patch) == {
        "a": {"b": 1, "c": [3]},
        "d": [{"name": "x", "v": 1}, {"name": "y", "v": 2}],
    }
    assert base["a"]["c"] == [1, 2]  # inputs untouched


@pytest.mark.parametrize(
    ("kustomization", "says"),
    [
        ({"resources": [], "commonLabels": {"a": "b"}}, "unsupported kustomization fields"),
        ({"secretGenerator": [{"name": "s", "envs": ["s.env"]}]}, "disableNameSuffixHash"),
        (
            {
                "secretGenerator": [{"name": "s", "literals": ["A=1"]}],
                "generatorOptions": {"disableNameSuffixHash": True},
            },
            "unsupported secretGenerator fields",
        ),
        ({"patches": [{"patch": "inline"}]}, "only patches with a path"),
        ({"patches": [{"path": "p.yaml"}]}, "no Deployment named other"),
    ],
)
def test_what_the_subset_does_not_render_is_refused(
    tmp_path: Path, kustomization: dict[str, object], says: str
) -> None:
    folder = write(
        tmp_path,
        {
            "kustomization.yaml": kustomization,
            "s.env": "A=1\n",
            "p.yaml": {"kind": "Deployment", "metadata": {"name": "other"}},
        },
    )
    with pytest.raises(ValueError, match=says):
        build(folder)


def test_an_env_line_without_a_value_is_refused(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "kustomization.yaml": {
                "secretGenerator": [{"name": "s", "envs": ["s.env"]}],
                "generatorOptions": {"disableNameSuffixHash": True},
            },
            "s.env": "JUSTAKEY\n",
        },
    )
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        build(folder)
