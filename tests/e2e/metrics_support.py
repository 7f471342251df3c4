"""Scraping a mesh's Prometheus endpoints as Prometheus would: the text format, parsed by
prometheus_client's own parser, into samples one can look up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cli.launcher import Mesh


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample as (name, labels, value), and the families' names."""

    samples: list[tuple[str, dict[str, str], float]]
    families: set[str]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 if none)."""
        return sum(
            v
            for n, have, v in self.samples
            if n == name and all(have.get(k) == want for k, want in labels.items())
        )

    def has(self, name: str) -> bool:
        """Whether `name` is exported, as a family or a sample (`_total`, `_bucket`, ...)."""
        return name in self.families or any(n == name for n, _, _ in self.samples)


def parse(text: str) -> Scrape:
    samples: list[tuple[str, dict[str, str], float]] = []
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        samples.extend((s.name, dict(s.labels), float(s.value)) for s in family.samples)
    return Scrape(samples, families)


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(url)
    assert resp.status_code == 200, f"{url}: {resp.status_code} {resp.text[:200]}"
    assert resp.headers["content-type"].startswith("text/plain"), resp.headers
    return parse(resp.text)


async def scrape_all(mesh: Mesh) -> dict[str, Scrape]:
    """Every process of the mesh that serves metrics, by process name ("envoy" for Envoy)."""
    return {name: await scrape(url) for name, url in mesh.metrics_urls.items()}
