"""`botmesh`: run the mesh and administer it.

botmesh up [--replicas trading=2,analysis=2] [--sim-speed 60] [--tls [--internal-tls]]
                                start Redis (if needed), migrations, services and Envoy
botmesh migrate                 upgrade the database to the latest schema
botmesh apikey create --name N --scopes a,b [--expires-in-days D]
botmesh apikey list
botmesh apikey revoke KEY_ID
botmesh keys rotate [--retire-previous]
botmesh audit verify
botmesh gateway render --out DIR [--validate]
                                write Envoy's bootstrap for compose / Kubernetes
botmesh health HOST:PORT        exit 0 if the gRPC health service answers SERVING
botmesh demo [--market BTC-USDT] [--wait-for-bot 90]
                                the README's marketplace walk-through against a running mesh
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli.deploy_commands import add_commands
from cli.dev_ca import ensure_dev_certificates, trust_instructions
from cli.launcher import Mesh, mesh_env
from cli.replicas import parse_replicas
from mesh.scopes import SCOPES
from mesh.settings import Settings, load_settings

ADMIN_KEY_FILE = "admin-key"


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")


async def _bootstrap_admin_key(settings: Settings) -> Path | None:
    """On first run, a development admin key, saved (0600) in the state folder."""
    from mesh.apikey_admin import issue_key
    from mesh.apikey_store import ApiKeyStore
    from mesh.db import make_engine

    path = settings.state_dir / ADMIN_KEY_FILE
    if path.exists():
        return None
    engine = make_engine(settings.database_url)
    try:
        _, key = await issue_key(
            ApiKeyStore(engine),
            pepper=settings.api_key_pepper,
            name="development admin",
            scopes=list(SCOPES),
        )
    finally:
        await engine.dispose()
    _write_secret(path, key)
    return path


def _replicas(value: str) -> dict[str, int]:
    try:
        return parse_replicas(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < speed <= 10_000:
        raise argparse.ArgumentTypeError("the speed must be above 0 and at most 10000")
    return speed


def _supervise(mesh: Mesh, name: str, code: int | None) -> bool:
    """A replica of a service that has several is started again; any other exit stops the
    mesh. True to keep running."""
    try:
        service = mesh.replica(name).service
    except KeyError:  # envoy, redis, exchange_sim
        service = ""
    if len(mesh.plan.get(service, [])) < 2:
        print(f"{name} exited with {code}; stopping", file=sys.stderr)
        return False
    print(f"{name} exited with {code}; starting it again", file=sys.stderr)
    try:
        mesh.start_replica(name)
    except (RuntimeError, TimeoutError) as exc:
        print(f"{name} did not start again ({exc}); stopping", file=sys.stderr)
        return False
    return True


def _use_dev_certificates(internal: bool) -> str:
    """`--tls`: the development CA and certificates (made or reused) in the state folder,
    the settings pointed at them for every process this run starts; returns how to trust
    the CA."""
    settings = load_settings()
    certs = ensure_dev_certificates(settings.state_dir)
    os.environ.update(certs.env(internal=internal))
    return trust_instructions(certs, settings.envoy_port)


def cmd_up(args: argparse.Namespace) -> int:
    trust = _use_dev_certificates(args.internal_tls) if args.tls or args.internal_tls else ""
    settings = load_settings()
    mesh = Mesh(settings, mesh_env(), replicas=args.replicas, sim_speed=args.sim_speed)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        mesh.up()
        created = asyncio.run(_bootstrap_admin_key(settings))
        key_path = settings.state_dir / ADMIN_KEY_FILE
        print(f"botmesh is up: REST and gRPC at {mesh.rest_url}", flush=True)
        if trust:
            print(trust, flush=True)
        if args.internal_tls:
            print(
                "services speak mutual TLS to each other; for `botmesh apikey`/`keys`, export "
                + " ".join(f"{k}={v}" for k, v in os.environ.items() if "INTERNAL_TLS" in k),
                flush=True,
            )
        if created:
            print(f"created a development admin key, saved in {key_path}", flush=True)
        else:
            print(f"development admin key: {key_path}", flush=True)
        for name, url in mesh.metrics_urls.items():
            print(f"metrics of {name}: {url}", flush=True)
        print(f"logs: {mesh.log_dir}   stop: Ctrl-C", flush=True)
        while not stop:
            for name, proc in list(mesh.processes.items()):
                if proc.poll() is not None and not _supervise(mesh, name, proc.returncode):
                    stop = True
            time.sleep(0.5)
    finally:
        mesh.stop()
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    Mesh(load_settings(), mesh_env()).migrate()
    print("database is at the latest revision")
    return 0


def _admin_key(settings: Settings) -> str:
    # The API key of the CLI's admin commands and the demo; by default the development admin
    # key `botmesh up` saved in the state folder.
    key = os.environ.get("BOTMESH_API_KEY")
    if key:
        return key
    path = settings.state_dir / ADMIN_KEY_FILE
    if not path.exists():
        raise SystemExit("no admin key: set BOTMESH_API_KEY or run `botmesh up` once")
    return path.read_text().strip()


def cmd_apikey(args: argparse.Namespace) -> int:
    from cli.admin_client import create_key, list_keys, revoke_key

    settings = load_settings()
    admin = _admin_key(settings)
    if args.action == "create":
        expires = (
            datetime.now(UTC) + timedelta(days=args.expires_in_days)
            if args.expires_in_days
            else None
        )
        key_id, key = asyncio.run(
            create_key(settings, admin, args.name, args.scopes.split(","), expires, args.rate_limit)
        )
        print(f"created key {key_id}. It is shown once; store it now:\n{key}")
    elif args.action == "list":
        for line in asyncio.run(list_keys(settings, admin)):
            print(line)
    else:
        print(asyncio.run(revoke_key(settings, admin, args.key_id)))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from cli.admin_client import rotate_encryption_key

    settings = load_settings()
    print(asyncio.run(rotate_encryption_key(settings, _admin_key(settings), args.retire_previous)))
    return 0


def cmd_audit(_: argparse.Namespace) -> int:
    """Reads the chain straight from the database: verification must not depend on the
    service whose writes it checks."""
    from mesh.audit import verify_chain
    from mesh.db import make_engine

    async def run() -> tuple[int, object]:
        engine = make_engine(load_settings().database_url)
        try:
            return await verify_chain(engine)
        finally:
            await engine.dispose()

    checked, broken = asyncio.run(run())
    if broken is None:
        print(f"audit chain intact: {checked} rows")
        return 0
    print(f"audit chain broken at seq {broken.seq}: {broken.problem}")  # type: ignore[attr-defined]
    return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import DemoOptions
    from cli.demo import main as demo_main

    settings = load_settings()
    options = DemoOptions(
        rest_url=args.url or f"http://localhost:{settings.envoy_port}",
        sim_url=settings.exchange_sim_url,
        api_key=_admin_key(settings),
        market=args.market,
        wait_for_bot_s=args.wait_for_bot,
        # exchange_sim's admin token, if it was started with one (the demo opens an account).
        sim_admin_token=os.environ.get("BOTMESH_SIM_ADMIN_TOKEN") or None,
    )
    return demo_main(options)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="botmesh", description=__doc__.splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole mesh with Envoy")
    up.add_argument(
        "--replicas",
        type=_replicas,
        default={},
        help="processes per service behind Envoy, e.g. trading=2,analysis=2 (default 1 each)",
    )
    up.add_argument(
        "--sim-speed",
        type=_speed,
        default=None,
        help="exchange_sim's clock speed when botmesh starts it, e.g. 60: a minute a second",
    )
    up.add_argument(
        "--tls",
        action="store_true",
        help="TLS 1.3 at Envoy with a development CA made (or reused) in the state folder",
    )
    up.add_argument(
        "--internal-tls",
        action="store_true",
        help="with --tls: mutual TLS between the services and from Envoy, same development CA",
    )
    up.set_defaults(run=cmd_up)
    sub.add_parser("migrate", help="upgrade the database").set_defaults(run=cmd_migrate)
    keys = sub.add_parser("apikey", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help=f"comma-separated: {','.join(SCOPES)}")
    create.add_argument("--expires-in-days", type=int, default=0)
    create.add_argument(
        "--rate-limit", type=int, default=0, help="requests/s for this key (default: server's)"
    )
    keys.add_parser("list", help="list keys")
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    for p in (create, revoke, *[keys.choices["list"]]):
        p.set_defaults(run=cmd_apikey)
    kek = sub.add_parser("keys", help="encryption keys").add_subparsers(
        dest="action", required=True
    )
    rotate = kek.add_parser("rotate", help="add a keyring version and rewrap every data key")
    rotate.add_argument(
        "--retire-previous", action="store_true", help="retire older versions after the rewrap"
    )
    rotate.set_defaults(run=cmd_keys)
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", required=True
    )
    audit.add_parser("verify", help="check the hash chain").set_defaults(run=cmd_audit)
    add_commands(sub)
    demo = sub.add_parser("demo", help="a scripted marketplace walk-through (needs `make run`)")
    demo.add_argument("--url", default="", help="Envoy's REST URL (default: this machine's)")
    demo.add_argument("--market", default="BTC-USDT", help="the market the bot trades")
    demo.add_argument(
        "--wait-for-bot",
        type=float,
        default=90.0,
        help="seconds to wait for the bot's first decision (0: do not wait)",
    )
    demo.set_defaults(run=cmd_demo)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
