"""Renders a kustomization the way `kustomize build` does, for the subset deploy/k8s/ uses,
so the tests can validate an overlay's output offline (there is no kustomize binary here and
no faithful one on PyPI).

The subset, and the rule for each:
- `resources`: YAML files (several documents each) and folders holding a kustomization.yaml,
  rendered first, in order;
- `namespace`: set on every namespaced object (cluster-scoped kinds keep none);
- `labels` (`pairs`, without selectors): added to every object's metadata.labels;
- `images` (`name`, `newName`, `newTag`): rewrites each container and initContainer image
  whose name is `name` (with or without a tag);
- `secretGenerator` (`name`, `envs`, `files`, `type`) with
  `generatorOptions.disableNameSuffixHash: true`: one Secret per entry (Opaque unless
  `type` says otherwise), its data base64 from KEY=VALUE lines (`#` comments skipped) and
  from each file (`key=path`, or the file's name as the key);
- `patches` (`path`): a strategic-merge patch, applied to the object of the same kind and
  name: maps merge key by key, lists of maps with a `name` merge item by item on it, any
  other value replaces.
Any other field (or a generator with name hashes) is a ValueError naming it, so the subset
never renders something kustomize would render differently without saying so.

Run `python -m tools.kustomize_subset DIR` to print the rendered YAML.
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "secretGenerator",
    "generatorOptions",
    "patches",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


def load_documents(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(folder: Path) -> list[Object]:
    """The objects `kustomize build folder` prints, for the subset above."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unsupported = set(spec) - SUPPORTED
    if unsupported:
        raise ValueError(f"{folder}: unsupported kustomization fields {sorted(unsupported)}")
    objects: list[Object] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        objects += build(path) if path.is_dir() else load_documents(path)
    objects += _secrets(folder, spec)
    for patch in spec.get("patches", []):
        _apply_patch(objects, folder, patch)
    for obj in objects:
        _transform(obj, spec)
    return objects


def _secrets(folder: Path, spec: Object) -> list[Object]:
    generators = spec.get("secretGenerator", [])
    if generators and not spec.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise ValueError(f"{folder}: name hashes are not rendered; set disableNameSuffixHash")
    secrets = []
    for generator in generators:
        unsupported = set(generator) - {"name", "envs", "files", "type"}
        if unsupported:
            raise ValueError(f"{folder}: unsupported secretGenerator fields {sorted(unsupported)}")
        data: dict[str, str] = {}
        for file in generator.get("files", []):
            key, _, path = file.rpartition("=") if "=" in file else ("", "", file)
            raw = (folder / path).read_bytes()
            data[key or Path(path).name] = base64.b64encode(raw).decode()
        for env in generator.get("envs", []):
            for line in (folder / env).read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                key, sep, value = line.partition("=")
                if not sep:
                    raise ValueError(f"{folder / env}: {key!r} is not KEY=VALUE")
                data[key] = base64.b64encode(value.encode()).decode()
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": generator.get("type", "Opaque"),
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return secrets


def _apply_patch(objects: list[Object], folder: Path, entry: Object) -> None:
    if set(entry) != {"path"}:
        raise ValueError(f"{folder}: only patches with a path are rendered, not {entry}")
    patch = yaml.safe_load((folder / entry["path"]).read_text())
    name = patch["metadata"]["name"]
    for obj in objects:
        if obj["kind"] == patch["kind"] and obj["metadata"]["name"] == name:
            merged = merge(obj, patch)
            obj.clear()
            obj.update(merged)
            return
    raise ValueError(f"{folder / entry['path']}: no {patch['kind']} named {name} to patch")


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge, the subset above: maps by key, named lists by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if _named_list(base) and _named_list(patch):
        items: list[Any] = copy.deepcopy(base)
        for item in patch:
            match = next((i for i, old in enumerate(items) if old["name"] == item["name"]), None)
            if match is None:
                items.append(copy.deepcopy(item))
            else:
                items[match] = merge(items[match], item)
        return items
    return copy.deepcopy(patch)


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _transform(obj: Object, spec: Object) -> None:
    metadata = obj.setdefault("metadata", {})
    if "namespace" in spec and obj["kind"] not in CLUSTER_SCOPED:
        metadata["namespace"] = spec["namespace"]
    for label in spec.get("labels", []):
        if set(label) - {"pairs"}:
            raise ValueError(f"only label pairs are rendered, not {sorted(label)}")
        metadata.setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        for container in _containers(obj):
            if container.get("image", "").split(":")[0] == image["name"]:
                name = image.get("newName", image["name"])
                tag = image.get("newTag")
                container["image"] = f"{name}:{tag}" if tag else name


def _containers(obj: Object) -> list[Object]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    if obj["kind"] == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def main(argv: list[str]) -> int:
    print(yaml.safe_dump_all(build(Path(argv[0])), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
