"""Replicas: several processes of one service, each on a port of its own, behind Envoy.

Rules the launcher keeps with this plan:
- A service runs one process unless `--replicas` asks for more (at most MAX_REPLICAS).
- Replica 0 listens on the service's configured port; the others on ports of their own
  (BOTMESH_<SERVICE>_REPLICA_PORTS when it lists one per replica, else free ports).
- Every process of the mesh gets BOTMESH_<SERVICE>_REPLICA_PORTS, so internal clients dial a
  target listing every replica (mesh.settings.ServiceAddress.target) and reach a survivor
  when one dies; Envoy's cluster lists every replica as an endpoint.
- Each replica process gets its own BOTMESH_<SERVICE>_PORT and BOTMESH_REPLICA_ID
  ("trading_svc-1"), which settings expose as `replica_id`.
- A lone replica's process is named after its service ("trading_svc"), as before replicas;
  several are named after their replica ids.
- Each replica exposes Prometheus metrics on a port of its own (BOTMESH_METRICS_PORT, which it
  is told): the configured port plus METRICS_STRIDE per service in SERVICES' order plus 1
  per replica (9460; 9480, 9481, ...; 9500, ...), a free port each when the setting is
  "auto" (private meshes of tests), none when it is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cli.topology import SERVICE_NAMES
from cli.topology import SERVICES as SPECS
from mesh.settings import AUTO_PORT, ServiceAddress, Settings

SERVICES = SERVICE_NAMES
ENV_KEYS = {s.name: s.env_key for s in SPECS}
MAX_REPLICAS = 16
# Metrics ports reserved per service: more than MAX_REPLICAS, so no two processes share one.
METRICS_STRIDE = 20


def address_of(settings: Settings, service: str) -> ServiceAddress:
    return {
        "credential_svc": settings.credential,
        "trading_svc": settings.trading,
        "analysis_svc": settings.analysis,
    }[service]


def parse_replicas(spec: str) -> dict[str, int]:
    """`trading=2,analysis=3` (or `trading_svc=2`) as {service: count}. A name that is no
    service, a count that is not 1..MAX_REPLICAS, or a service named twice is a ValueError
    naming the part."""
    counts: dict[str, int] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        service = name.strip() if name.strip().endswith("_svc") else f"{name.strip()}_svc"
        if not sep or service not in SERVICES:
            raise ValueError(f"{part!r}: expected <service>=<count>, service one of {SERVICES}")
        if service in counts:
            raise ValueError(f"{part!r}: {service} is named twice")
        try:
            count = int(value)
        except ValueError:
            raise ValueError(f"{part!r}: the count is not a whole number") from None
        if not 1 <= count <= MAX_REPLICAS:
            raise ValueError(f"{part!r}: the count must be 1 to {MAX_REPLICAS}")
        counts[service] = count
    return counts


@dataclass(frozen=True)
class Replica:
    service: str
    index: int
    port: int
    # The process's name in Mesh.processes (and its log file).
    name: str
    # Its Prometheus metrics port; 0: metrics off.
    metrics_port: int = 0

    @property
    def replica_id(self) -> str:
        return f"{self.service}-{self.index}"


def plan_replicas(
    settings: Settings, counts: dict[str, int], free_port: Callable[[], int]
) -> dict[str, list[Replica]]:
    """The replicas of every service, with their ports."""
    planned: dict[str, list[Replica]] = {}
    for service in SERVICES:
        address = address_of(settings, service)
        count = counts.get(service, 1)
        if len(address.replica_ports) == count:
            ports = list(address.replica_ports)
        else:
            ports = [address.port] + [free_port() for _ in range(count - 1)]
        planned[service] = [
            Replica(
                service,
                i,
                port,
                service if count == 1 else f"{service}-{i}",
                _metrics_port(settings.metrics_port, service, i, free_port),
            )
            for i, port in enumerate(ports)
        ]
    return planned


def _metrics_port(configured: int, service: str, index: int, free_port: Callable[[], int]) -> int:
    if configured == AUTO_PORT:
        return free_port()
    if configured == 0:
        return 0
    return configured + METRICS_STRIDE * SERVICES.index(service) + index


def shared_env(planned: dict[str, list[Replica]]) -> dict[str, str]:
    """What every process of the mesh is told about where the replicas listen."""
    env = {}
    for service, replicas in planned.items():
        ports = ",".join(str(r.port) for r in replicas) if len(replicas) > 1 else ""
        env[f"BOTMESH_{ENV_KEYS[service]}_REPLICA_PORTS"] = ports
    return env


def replica_env(replica: Replica) -> dict[str, str]:
    """What one replica process is told about itself: its port, its id, its metrics port
    (planned by plan_replicas; 0 when metrics are off)."""
    return {
        f"BOTMESH_{ENV_KEYS[replica.service]}_PORT": str(replica.port),
        "BOTMESH_REPLICA_ID": replica.replica_id,
        "BOTMESH_METRICS_PORT": str(replica.metrics_port),
    }
