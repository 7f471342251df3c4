"""Helpers for the idempotency e2e tests: the contract's mutating routes, read from the
descriptor set, callers, and the idempotency records as they lie in the table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from botmesh.rules.v1 import rules_pb2
from google.api import annotations_pb2

from gateway.contract import load_descriptor_set, public_services
from mesh.access import MUTATING_VERBS
from mesh.apikeys import parse_key
from mesh.idempotency_seal import RecordSeal
from mesh.ids import new_id
from mesh.settings import Settings
from mesh.tables import idempotency_records as records


@dataclass(frozen=True)
class Route:
    method: str  # "pkg.Service.Method"
    verb: str
    template: str
    principal_scoped: bool


def mutating_routes() -> list[Route]:
    """Every public POST, PATCH and DELETE of the contract: a new one joins the matrix."""
    fds = load_descriptor_set()
    public = {s.full_name for s in public_services(fds)}
    found = []
    for file in fds.file:
        for service in file.service:
            if f"{file.package}.{service.name}" not in public:
                continue
            for m in service.method:
                rule = m.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb in MUTATING_VERBS:
                    found.append(
                        Route(
                            f"{file.package}.{service.name}.{m.name}",
                            verb,
                            getattr(rule, verb),
                            m.options.Extensions[rules_pb2.access].principal,
                        )
                    )
    return found


@dataclass(frozen=True)
class Party:
    """One caller: an API key and the principal it names ("" for none)."""

    key: str
    principal: str = ""

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-api-key": self.key}
        if self.principal:
            headers["x-principal-id"] = self.principal
        return headers

    @property
    def api_key_id(self) -> str:
        parsed = parse_key(self.key)
        assert parsed is not None
        return parsed.key_id


@dataclass(frozen=True)
class Call:
    verb: str
    path: str
    body: dict[str, Any] | None

    async def send(
        self, rest: httpx.AsyncClient, party: Party, idempotency_key: str | None = None
    ) -> httpx.Response:
        headers = {**party.headers, "idempotency-key": idempotency_key or new_id("idem")}
        return await rest.request(self.verb, self.path, json=self.body, headers=headers)


async def recorded_callers(
    engine,  # type: ignore[no-untyped-def]
    settings: Settings,
    idempotency_key: str,
) -> set[tuple[str, bytes]]:
    """Whose records the table holds under one Idempotency-Key: (api key id, principal hash)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(records.c.api_key_id, records.c.principal_hash).where(
                    records.c.idempotency_key == idempotency_key
                )
            )
        ).all()
    return {(r.api_key_id, bytes(r.principal_hash)) for r in rows}


def as_recorded(settings: Settings, party: Party) -> tuple[str, bytes]:
    return party.api_key_id, RecordSeal(settings.api_key_pepper).principal_hash(party.principal)


async def stored_rows(engine, idempotency_key: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Every stored byte of the records under one key, column by column."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(records).where(records.c.idempotency_key == idempotency_key)
            )
        ).all()
    return [
        b"\0".join(bytes(v) if isinstance(v, bytes | bytearray) else str(v).encode() for v in row)
        for row in rows
    ]
