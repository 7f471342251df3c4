"""Rotation under load, then a scan of everything observable for the secret: logs of every
service and Envoy, response bodies, every Redis key and value, exception texts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import grpc
import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa

from credential_svc.tables import exchange_credentials as creds
from credential_svc.vault.keyring import parse_keyring
from mesh.settings import Settings
from tests.e2e.vault_support import (
    LISTING_PRICE_E8S,
    add_credential,
    make_bot,
    make_listing,
    new_principal,
    ph,
    register,
    release,
)


def _cli(*args: str, admin_key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, "BOTMESH_API_KEY": admin_key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _redis_value(redis: aioredis.Redis, name: bytes) -> object:
    kind = (await redis.type(name)).decode()
    if kind == "string":
        return await redis.get(name)
    if kind == "hash":
        return await redis.hgetall(name)
    if kind == "list":
        return await redis.lrange(name, 0, -1)
    if kind == "set":
        return await redis.smembers(name)
    if kind == "zset":
        return await redis.zrange(name, 0, -1)
    if kind == "stream":
        return await redis.xrange(name)
    return kind


async def test_rotate_under_load_then_nothing_leaks(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    key, principal = keys["marketplace"], new_principal()
    await register(rest, key, principal)
    async with exchange_sim.admin() as admin:
        account = await admin.create_account({"USDT": "1000"})
    secret = account.api_secret
    seen: list[str] = []
    cred = await add_credential(rest, key, principal, account.api_key, secret)
    cid = str(cred["credential_id"])
    bot = await make_bot(rest, keys["bots:write"])
    # Subscribe and pay through the API (a subscription needs a verified credential).
    verified = await rest.post(f"/v1/credentials/{cid}:verify", json={}, headers=ph(key, principal))
    assert verified.status_code == 200 and verified.json()["accepted"], verified.text
    listing = await make_listing(rest, keys["bots:write"], bot)
    created = await rest.post(
        "/v1/subscriptions",
        json={
            "bot_id": bot,
            "listing_id": listing["listing_id"],
            "credential_id": cid,
            "market": "BTC-USDT",
            "allocation": "100",
        },
        headers=ph(key, principal),
    )
    assert created.status_code == 200, created.text
    sub = created.json()["subscription"]["subscription_id"]
    paid = await rest.post(
        f"/v1/subscriptions/{sub}/payments",
        json={
            "ledger": "ryjl3-tyaaa-aaaaa-aaaba-cai",
            "block_index": str(int.from_bytes(os.urandom(6), "big")),
            "amount_e8s": str(LISTING_PRICE_E8S),
            "period_days": 30,
        },
        headers=ph(key, principal),
    )
    assert paid.status_code == 200, paid.text
    seen += [verified.text, created.text, paid.text]
    for i in range(20):  # more rows to rewrap
        await add_credential(rest, key, principal, f"bulkkey{i:04d}", f"bulk-secret-{i:04d}")
    old = parse_keyring(settings.keyring_file.read_text())

    async def releases() -> int:
        for _ in range(60):
            out = await release(settings, sub)
            assert out.api_secret == secret
        return 60

    async def verifies() -> int:
        for _ in range(8):
            resp = await rest.post(
                f"/v1/credentials/{cid}:verify", json={}, headers=ph(key, principal)
            )
            assert resp.status_code == 200, resp.text
            seen.append(resp.text)
        return 8

    async def rotate() -> str:
        await asyncio.sleep(0.2)
        result = await asyncio.to_thread(
            _cli, "keys", "rotate", "--retire-previous", admin_key=keys["admin"]
        )
        assert result.returncode == 0, result.stderr
        seen.append(result.stdout + result.stderr)
        return result.stdout

    done = await asyncio.gather(releases(), verifies(), rotate())
    assert "is active" in done[2]
    new_version = old.active + 1
    for _ in range(100):  # the rewrap and retirement run in the background
        ring = parse_keyring(settings.keyring_file.read_text())
        if sorted(ring.keys) == [new_version]:
            break
        await asyncio.sleep(0.1)
    assert sorted(ring.keys) == [new_version], "old versions were not retired"
    async with engine.connect() as conn:
        versions = set(
            (
                await conn.execute(
                    sa.select(creds.c.key_version).where(creds.c.wrapped_data_key.is_not(None))
                )
            ).scalars()
        )
    assert versions == {new_version}
    assert (await release(settings, sub)).api_secret == secret  # still opens after retirement

    # Erase, and the credential is gone for good.
    erased = await rest.delete("/v1/users/me", headers=ph(key, principal))
    seen.append(erased.text)
    try:
        await release(settings, sub)
        raise AssertionError("released after erasure")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION  # the credential is DELETED
        seen.append(str(exc) + repr(exc))

    # Scan: responses and exception texts, then logs, then Redis.
    assert not [text for text in seen if secret in text]
    logs = settings.state_dir / "logs"
    files = sorted(logs.glob("*.log"))
    assert any(f.name == "envoy.log" for f in files) and any("credential" in f.name for f in files)
    for path in files:
        assert secret not in path.read_text(errors="replace"), f"secret in {path.name}"
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        async for name in redis.scan_iter(count=500):
            assert secret.encode() not in name
            value = await _redis_value(redis, name)
            assert secret not in repr(value), f"secret in redis key {name!r}"
    finally:
        await redis.aclose()
