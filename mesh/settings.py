"""Settings from BOTMESH_* environment variables, with defaults that run embedded.

Defaults are for `make run` on a laptop: SQLite in the state folder, the local Redis, the
exchange stand-in. Secrets (API-key pepper, internal token) default to random values kept in
the state folder, so a fresh checkout is safe without configuration, and production sets them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from mesh import origins

ROOT = Path(__file__).resolve().parent.parent
ICP_LEDGER = "ryjl3-tyaaa-aaaaa-aaaba-cai"
# One Envoy worker per core (Envoy's own default): on the 2-core machine, 1 and 2 workers
# measured the same throughput and CPU per request (bench/getbot.py --envoy-concurrency).
DEFAULT_ENVOY_WORKERS = 0


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BOTMESH_{name}", default)


def _state_secret(state_dir: Path, name: str) -> str:
    """A random secret persisted in the state folder, created on first use (mode 0600)."""
    path = state_dir / name
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


_RETRY_UNAVAILABLE = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


@dataclass(frozen=True)
class ServiceAddress:
    """Where a service listens. `port` is this process's own (what a replica binds);
    `replica_ports` lists every replica's port when the service runs several processes
    (BOTMESH_<SERVICE>_REPLICA_PORTS), so that a client's `target` reaches all of them."""

    host: str
    port: int
    replica_ports: tuple[int, ...] = ()

    @property
    def bind(self) -> str:
        """The address this process listens on."""
        return f"{self.host}:{self.port}"

    @property
    def target(self) -> str:
        """A gRPC target reaching every replica: one address, or an `ipv4:`/`ipv6:` list of
        all of them, which a channel fails over across (and spreads over with round_robin,
        `channel_options`). A host name cannot carry several ports: it gets the first."""
        if len(self.replica_ports) < 2:
            return self.bind
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return f"{self.host}:{self.replica_ports[0]}"
        if ip.version == 4:
            return "ipv4:" + ",".join(f"{self.host}:{p}" for p in self.replica_ports)
        return "ipv6:" + ",".join(f"[{self.host}]:{p}" for p in self.replica_ports)

    @property
    def channel_options(self) -> list[tuple[str, str | int]]:
        """Channel options for `target`, when several replicas serve it: round_robin over
        them; a call that finds no replica ready (one just died) retried on UNAVAILABLE, up to
        3 attempts (internal calls are reads or idempotent); a restarted replica redialled
        within a second or two, not after gRPC's default backoff of up to two minutes."""
        if len(self.replica_ports) < 2:
            return []
        return [
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.service_config", _RETRY_UNAVAILABLE),
            ("grpc.enable_retries", 1),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]


def _address(name: str, default_port: int) -> ServiceAddress:
    # Every replica's port, comma-separated, when it runs several (the launcher sets it).
    ports = _env(f"{name}_REPLICA_PORTS", "")
    return ServiceAddress(
        # The host it listens on and is dialled at.
        _env(f"{name}_HOST", "127.0.0.1"),
        # Its gRPC port (this replica's own, when it runs several).
        int(_env(f"{name}_PORT", str(default_port))),
        tuple(int(p) for p in ports.split(",") if p.strip()),
    )


@dataclass(frozen=True)
class Settings:
    # The state folder: the development database, secrets and keyring files, logs.
    state_dir: Path
    # SQLAlchemy URL of the database: `mysql+aiomysql://user:pass@host/db` in production;
    # SQLite in the state folder by default.
    database_url: str
    # Redis: rate limits, caches, streams, the bot runtime's ticks and leases.
    redis_url: str
    # Server pepper of API-key hashes (HMAC-SHA256). Set it in production; unset, a random
    # one is made and kept (0600) in the state folder.
    api_key_pepper: str = field(repr=False)
    # Shared secret that marks service-to-service calls (the internal identity). Set it in
    # production; unset, a random one is kept in the state folder.
    internal_token: str = field(repr=False)
    # credential_svc:
    credential: ServiceAddress
    # trading_svc:
    trading: ServiceAddress
    # analysis_svc:
    analysis: ServiceAddress
    # Envoy's public listener: REST, gRPC and SSE.
    envoy_port: int
    # The address Envoy's public listener binds (BOTMESH_ENVOY_ADDRESS, default "::": every
    # interface, IPv6 and IPv4, since ICP HTTPS outcalls arrive over IPv6). A host or cluster
    # without IPv6 cannot bind "::": set 0.0.0.0 there.
    envoy_address: str
    # Envoy's admin interface (on 127.0.0.1).
    envoy_admin_port: int
    # Envoy's worker threads (BOTMESH_ENVOY_CONCURRENCY: a number, or "auto" for one per
    # core, stored as 0); see envoy_workers() for the default.
    envoy_concurrency: int
    # Envoy's limit per client address, requests/s (burst twice that), before authentication.
    gateway_rate_limit_per_address: int
    # Port of this process's Prometheus /metrics (BOTMESH_METRICS_PORT, default 9460): 0 turns
    # metrics off; "auto" (stored as -1) lets the launcher pick a free port per process. The
    # launcher gives each replica its own: this port plus 20 per service (credential, trading,
    # analysis) plus 1 per replica, so 9460, 9480-9495, 9500-9515 by default.
    metrics_port: int
    # Address the metrics endpoints of the services and Envoy's stats listener bind
    # (BOTMESH_METRICS_ADDRESS, default 127.0.0.1: loopback; 0.0.0.0 in containers).
    metrics_address: str
    # Port of Envoy's stats listener, which serves only GET /metrics (Envoy's
    # /stats/prometheus); the admin API stays on loopback (default 9902; 0 turns it off).
    envoy_metrics_port: int
    # Log level of the services (DEBUG, INFO, WARNING, ERROR).
    log_level: str
    # Seconds a process trusts an authenticated API key before reading it again (how soon a
    # revoked key is refused).
    auth_cache_ttl_s: float
    # Default requests/s per API key (a key's own rate_limit_per_s overrides it).
    rate_limit_per_s: int
    # Seconds a stopping service lets calls in flight finish.
    grace_period_s: float
    # Where exchange_sim serves (`botmesh up` starts it there when the venue is "sim").
    exchange_sim_url: str
    # Key-encryption keyring: JSON in BOTMESH_KEYRING (fixed; rotation refuses), else a file
    # (created 0600 on first run) that rotation rewrites. Never in the database.
    keyring_json: str | None = field(repr=False)
    # The keyring file used when BOTMESH_KEYRING is unset.
    keyring_file: Path
    # Verify refuses keys that can withdraw unless this is set.
    allow_withdrawal_keys: bool
    # "sim": every exchange id is served by exchange_sim (dev, tests); "live": the real venues.
    exchange_venue: str
    # The ccxt exchange id of market-data requests that name none.
    market_data_exchange: str = "binance"
    # The LLM advisor chain as JSON (analysis_svc/advisor/settings.py); "" means no advisor.
    # Keys are referenced by environment-variable name, never inlined.
    llm_endpoints: str = ""
    # Ledger canisters whose transfers RecordPayment credits (BOTMESH_ACCEPTED_LEDGERS,
    # comma-separated): the ICP ledger by default.
    accepted_ledgers: frozenset[str] = frozenset({ICP_LEDGER})
    # This process among the replicas of its service (BOTMESH_REPLICA_ID, set by the
    # launcher: "trading_svc-0", "trading_svc-1", ...); "<service>-<host name>-<pid>" by
    # default, unique across containers too (each is pid 1 on a host name of its own). The
    # bot runtime names its stream consumer after it.
    replica_id: str = ""
    # The edge's certificate chain (PEM) for Envoy's public listener; "" (default): Envoy
    # listens in plaintext. With BOTMESH_TLS_KEY_FILE, the listener speaks TLS 1.3 only.
    tls_cert_file: str = ""
    # The private key of BOTMESH_TLS_CERT_FILE (PEM); "" (default) with it.
    tls_key_file: str = ""
    # CA (PEM) that service-to-service gRPC trusts; "" (default): plaintext between services.
    # Set with the two below: every service serves TLS, requires the internal certificate of
    # its callers (mutual TLS), and Envoy's upstream clusters speak TLS with it too.
    internal_tls_ca_file: str = ""
    # The certificate (PEM) every service and Envoy present inside the mesh; "" (default).
    internal_tls_cert_file: str = ""
    # Its private key (PEM); "" (default).
    internal_tls_key_file: str = ""
    # The name internal callers expect in a service's certificate (it must be a SAN of the
    # internal certificate); "localhost" by default.
    internal_tls_server_name: str = "localhost"
    # Where this runs: "development" (the default) or "production" (compose and Kubernetes
    # set it). It picks defaults that differ between the two, e.g. cors_origins.
    environment: str = "development"
    # Browser origins allowed to call the REST routes and SSE streams cross-origin
    # (BOTMESH_CORS_ORIGINS, comma-separated, e.g. https://<canister-id>.icp0.io;
    # `*` stands for one DNS label or the port: https://*.icp0.io, http://localhost:*).
    # Default: localhost on any port in development, none in production; `none`: none.
    cors_origins: tuple[str, ...] = ()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def envoy_workers(text: str) -> int:
    """BOTMESH_ENVOY_CONCURRENCY as Envoy's worker count: "auto" is 0 (Envoy runs one per
    hardware thread); unset is DEFAULT_ENVOY_WORKERS (auto)."""
    value = text.strip().lower()
    if value == "":
        return DEFAULT_ENVOY_WORKERS
    if value == "auto":
        return 0
    if not value.isdigit() or not 1 <= int(value) <= 256:
        raise ValueError(f"BOTMESH_ENVOY_CONCURRENCY={text!r}: expected 1 to 256 or auto")
    return int(value)


AUTO_PORT = -1


def listen_address(text: str) -> str:
    """BOTMESH_ENVOY_ADDRESS as an IP address Envoy can bind ("::", "0.0.0.0", "::1")."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError(
            f"BOTMESH_ENVOY_ADDRESS={text!r}: expected an IP address, e.g. :: or 0.0.0.0"
        ) from None


def metrics_port(text: str) -> int:
    """BOTMESH_METRICS_PORT as a port: "auto" is AUTO_PORT (a free port per process, picked by
    the launcher), 0 is off."""
    value = text.strip().lower()
    if value == "auto":
        return AUTO_PORT
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"BOTMESH_METRICS_PORT={text!r}: expected 0 to 65535 or auto")
    return int(value)


def load_settings(service: str = "botmesh") -> Settings:
    state_dir = Path(_env("STATE_DIR", str(ROOT / ".state"))).resolve()
    pepper = os.environ.get("BOTMESH_API_KEY_PEPPER") or _state_secret(state_dir, "pepper")
    internal = os.environ.get("BOTMESH_INTERNAL_TOKEN") or _state_secret(
        state_dir, "internal-token"
    )
    environment = origins.environment(_env("ENVIRONMENT", "development"))
    return Settings(
        state_dir=state_dir,
        database_url=_env("DATABASE_URL", f"sqlite+aiosqlite:///{state_dir / 'botmesh.db'}"),
        redis_url=_env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        api_key_pepper=pepper,
        internal_token=internal,
        credential=_address("CREDENTIAL", 50051),
        trading=_address("TRADING", 50052),
        analysis=_address("ANALYSIS", 50053),
        envoy_port=int(_env("ENVOY_PORT", "8080")),
        envoy_address=listen_address(_env("ENVOY_ADDRESS", "::")),
        envoy_admin_port=int(_env("ENVOY_ADMIN_PORT", "9901")),
        envoy_concurrency=envoy_workers(_env("ENVOY_CONCURRENCY", "")),
        gateway_rate_limit_per_address=int(_env("GATEWAY_RATE_LIMIT_PER_ADDRESS", "1000")),
        metrics_port=metrics_port(_env("METRICS_PORT", "9460")),
        metrics_address=_env("METRICS_ADDRESS", "127.0.0.1"),
        envoy_metrics_port=int(_env("ENVOY_METRICS_PORT", "9902")),
        log_level=_env("LOG_LEVEL", "INFO"),
        auth_cache_ttl_s=float(_env("AUTH_CACHE_TTL", "2.0")),
        rate_limit_per_s=int(_env("RATE_LIMIT_PER_S", "500")),
        grace_period_s=float(_env("GRACE_PERIOD", "10")),
        exchange_sim_url=_env("EXCHANGE_SIM_URL", "http://127.0.0.1:8090"),
        keyring_json=os.environ.get("BOTMESH_KEYRING") or None,
        keyring_file=Path(_env("KEYRING_FILE", str(state_dir / "keyring.json"))).resolve(),
        allow_withdrawal_keys=_env("ALLOW_WITHDRAWAL_KEYS", "false").lower()
        in ("1", "true", "yes"),
        exchange_venue=_env("EXCHANGE_VENUE", "sim"),
        market_data_exchange=_env("MARKET_DATA_EXCHANGE", "binance"),
        llm_endpoints=_env("LLM_ENDPOINTS", ""),
        accepted_ledgers=frozenset(
            name.strip() for name in _env("ACCEPTED_LEDGERS", ICP_LEDGER).split(",") if name.strip()
        ),
        replica_id=_env("REPLICA_ID", f"{service}-{socket.gethostname()}-{os.getpid()}"),
        tls_cert_file=_env("TLS_CERT_FILE", ""),
        tls_key_file=_env("TLS_KEY_FILE", ""),
        internal_tls_ca_file=_env("INTERNAL_TLS_CA_FILE", ""),
        internal_tls_cert_file=_env("INTERNAL_TLS_CERT_FILE", ""),
        internal_tls_key_file=_env("INTERNAL_TLS_KEY_FILE", ""),
        internal_tls_server_name=_env("INTERNAL_TLS_SERVER_NAME", "localhost"),
        environment=environment,
        cors_origins=origins.parse(_env("CORS_ORIGINS", ""), environment),
    )
