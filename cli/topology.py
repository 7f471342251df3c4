"""The mesh's topology in one place: which processes make botmesh, what each runs, which
setting names its port and what that port defaults to, and how its health is checked.

`botmesh up` (cli/launcher.py, cli/replicas.py) starts exactly these; docker-compose.yml and
deploy/k8s/ describe the same processes, and tests/deploy/test_agreement.py holds all three
to this table, so none can drift from the others. A service is added here first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """One gRPC service of the mesh."""

    # The process name (`botmesh up`'s process, the package, Envoy's cluster).
    name: str
    # Run as `python -m <module>`.
    module: str
    # Settings prefix: BOTMESH_<env_key>_PORT, _HOST, _REPLICA_PORTS.
    env_key: str
    # BOTMESH_<env_key>_PORT when unset (mesh/settings.py load_settings agrees: tested).
    default_port: int
    # Deployments may run several processes (compose replicas, a k8s HorizontalPodAutoscaler).
    scalable: bool

    @property
    def port_setting(self) -> str:
        return f"BOTMESH_{self.env_key}_PORT"

    @property
    def host_setting(self) -> str:
        return f"BOTMESH_{self.env_key}_HOST"

    @property
    def dns_name(self) -> str:
        """The host name the others dial: compose's service and the Kubernetes Service,
        "trading-svc" (a host name holds no underscore, RFC 1123; neither do k8s names)."""
        return self.name.replace("_", "-")


# Every service answers the standard gRPC health service (grpc.health.v1.Health) on its port.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("credential_svc", "credential_svc", "CREDENTIAL", 50051, scalable=False),
    ServiceSpec("trading_svc", "trading_svc", "TRADING", 50052, scalable=True),
    ServiceSpec("analysis_svc", "analysis_svc", "ANALYSIS", 50053, scalable=True),
)
SERVICE_NAMES = tuple(s.name for s in SERVICES)


def spec(name: str) -> ServiceSpec:
    for service in SERVICES:
        if service.name == name:
            return service
    raise KeyError(f"no service named {name}")


# The migration job: `botmesh migrate` (alembic upgrade head); runs before any service.
MIGRATE_COMMAND = ("botmesh", "migrate")
# The gateway: Envoy, its bootstrap rendered by `botmesh gateway render --out DIR`.
GATEWAY_RENDER_COMMAND = ("botmesh", "gateway", "render")
GATEWAY_BOOTSTRAP = "envoy.json"
ENVOY_PORT_SETTING, ENVOY_DEFAULT_PORT = "BOTMESH_ENVOY_PORT", 8080
ENVOY_ADMIN_PORT_SETTING, ENVOY_ADMIN_DEFAULT_PORT = "BOTMESH_ENVOY_ADMIN_PORT", 9901
# The exchange stand-in: `python -m exchange_sim`, where BOTMESH_EXCHANGE_SIM_URL points.
EXCHANGE_SIM_MODULE = "exchange_sim"
EXCHANGE_SIM_DNS_NAME = "exchange-sim"
EXCHANGE_SIM_DEFAULT_PORT = 8090
