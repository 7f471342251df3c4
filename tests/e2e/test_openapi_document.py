"""Envoy serves the generated OpenAPI document at /openapi.json, byte for byte."""

from __future__ import annotations

import httpx

from tools.openapi import OUTPUT


async def test_envoy_serves_the_generated_document(rest: httpx.AsyncClient) -> None:
    response = await rest.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == OUTPUT.read_bytes()
    assert response.json()["openapi"] == "3.1.0"


async def test_only_reads_reach_it(rest: httpx.AsyncClient) -> None:
    response = await rest.post("/openapi.json", json={})

    assert response.status_code == 404
    assert response.json()["details"][0]["reason"] == "UNKNOWN_ROUTE"
