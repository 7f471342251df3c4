"""Commands the deployments run inside the botmesh image (docker-compose.yml, deploy/k8s/):

- `botmesh gateway render --out DIR`: Envoy's bootstrap, the same one `botmesh up` runs
  (gateway/envoy.py gateway_config), with each service's upstream at its configured host and
  port (BOTMESH_<SERVICE>_HOST: a compose service name or a headless Kubernetes Service,
  which Envoy resolves to every replica). DIR then holds everything Envoy reads.
- `botmesh health [ADDRESS]`: exits 0 when the gRPC health service at ADDRESS answers
  SERVING and 1 otherwise, printing the status; compose's health checks use it (Kubernetes
  probes gRPC natively).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli import topology
from cli.replicas import address_of
from gateway import envoy
from mesh.settings import Settings, load_settings


def gateway_upstreams(settings: Settings) -> dict[str, list[tuple[str, int]]]:
    """One endpoint per service: its configured host (a name resolving to every replica)
    and port."""
    upstreams = {}
    for service in topology.SERVICES:
        address = address_of(settings, service.name)
        upstreams[service.name] = [(address.host, address.port)]
    return upstreams


def cmd_gateway_render(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = envoy.write_bundle(
        settings, gateway_upstreams(settings), Path(args.out), topology.GATEWAY_BOOTSTRAP
    )
    if args.validate:
        result = envoy.validate(path)
        if result.returncode != 0:
            print(f"Envoy rejects {path}:\n{result.stdout}{result.stderr}", file=sys.stderr)
            return 1
    print(f"wrote {path}")
    return 0


def check_health(address: str, service: str = "", timeout_s: float = 2.0) -> str:
    """The health status name at `address` ("SERVING", "NOT_SERVING", ...), or the gRPC
    status code's name when the call fails ("UNAVAILABLE")."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            return str(code.name) if code is not None else "UNKNOWN"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def cmd_health(args: argparse.Namespace) -> int:
    status = check_health(args.address, args.service, args.timeout)
    print(f"{args.address}: {status}")
    return 0 if status == "SERVING" else 1


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    gateway = sub.add_parser("gateway", help="the Envoy gateway").add_subparsers(
        dest="action", required=True
    )
    render = gateway.add_parser("render", help="write Envoy's bootstrap and its files to a folder")
    render.add_argument("--out", required=True, help="the folder (mounted at the same path)")
    render.add_argument(
        "--validate", action="store_true", help="check it with `envoy --mode validate`"
    )
    render.set_defaults(run=cmd_gateway_render)
    health = sub.add_parser("health", help="exit 0 if a gRPC health service answers SERVING")
    health.add_argument("address", help="host:port, e.g. 127.0.0.1:50052")
    health.add_argument("--service", default="", help="the health service name (default: all)")
    health.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    health.set_defaults(run=cmd_health)
