"""`botmesh up --replicas`: how many processes of each service, on which ports, and what
each process is told (its port, its replica id, where every replica of the others listens)."""

from __future__ import annotations

import dataclasses
import os
import socket

import pytest

from cli.launcher import Mesh
from cli.main import parser
from cli.replicas import parse_replicas, plan_replicas, replica_env, shared_env
from mesh.settings import ServiceAddress, Settings, load_settings


def test_replicas_are_named_per_service_several_at_once() -> None:
    assert parse_replicas("trading=2") == {"trading_svc": 2}
    assert parse_replicas("trading=2,analysis=3, credential_svc=1") == {
        "trading_svc": 2,
        "analysis_svc": 3,
        "credential_svc": 1,
    }
    assert parse_replicas("") == {}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("exchange=2", "expected <service>=<count>"),
        ("trading", "expected <service>=<count>"),
        ("trading=two", "not a whole number"),
        ("trading=0", "1 to 16"),
        ("trading=17", "1 to 16"),
        ("trading=2,trading_svc=3", "named twice"),
    ],
)
def test_a_bad_replica_count_is_refused_naming_the_part(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_replicas(spec)


def test_up_takes_replicas_and_a_sim_speed(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["up", "--replicas", "trading=2,analysis=2", "--sim-speed", "60"])
    assert args.replicas == {"trading_svc": 2, "analysis_svc": 2}
    assert args.sim_speed == 60.0
    defaults = parser().parse_args(["up"])
    assert (defaults.replicas, defaults.sim_speed) == ({}, None)
    for bad in (["--replicas", "trading=0"], ["--sim-speed", "0"], ["--sim-speed", "fast"]):
        with pytest.raises(SystemExit):
            parser().parse_args(["up", *bad])
    assert "--sim-speed" in capsys.readouterr().err


def with_ports(settings: Settings, trading: tuple[int, ...] = ()) -> Settings:
    return dataclasses.replace(
        settings,
        credential=ServiceAddress("127.0.0.1", 41001),
        trading=ServiceAddress("127.0.0.1", 41002, trading),
        analysis=ServiceAddress("127.0.0.1", 41003),
        metrics_port=0,
    )


def test_replica_zero_keeps_the_configured_port_and_the_others_get_their_own(
    settings: Settings,
) -> None:
    spare = iter([42001, 42002])
    plan = plan_replicas(with_ports(settings), {"trading_svc": 3}, lambda: next(spare))
    assert [(r.name, r.replica_id, r.port) for r in plan["trading_svc"]] == [
        ("trading_svc-0", "trading_svc-0", 41002),
        ("trading_svc-1", "trading_svc-1", 42001),
        ("trading_svc-2", "trading_svc-2", 42002),
    ]
    # A lone process keeps its service's name, as before replicas.
    assert [(r.name, r.replica_id, r.port) for r in plan["credential_svc"]] == [
        ("credential_svc", "credential_svc-0", 41001)
    ]


def test_configured_replica_ports_are_used_when_they_match_the_count(settings: Settings) -> None:
    def no_free_port() -> int:
        raise AssertionError("no free port is needed")

    plan = plan_replicas(with_ports(settings, (41002, 43002)), {"trading_svc": 2}, no_free_port)
    assert [r.port for r in plan["trading_svc"]] == [41002, 43002]


def test_every_process_learns_all_replica_ports_and_each_replica_its_own_identity(
    settings: Settings,
) -> None:
    spare = iter([42001])
    plan = plan_replicas(with_ports(settings), {"trading_svc": 2}, lambda: next(spare))
    assert shared_env(plan) == {
        "BOTMESH_CREDENTIAL_REPLICA_PORTS": "",
        "BOTMESH_TRADING_REPLICA_PORTS": "41002,42001",
        "BOTMESH_ANALYSIS_REPLICA_PORTS": "",
    }
    second = plan["trading_svc"][1]
    assert replica_env(second) == {
        "BOTMESH_TRADING_PORT": "42001",
        "BOTMESH_REPLICA_ID": "trading_svc-1",
        "BOTMESH_METRICS_PORT": "0",
    }


def test_each_process_gets_a_metrics_port_of_its_own_by_service_and_replica(
    settings: Settings,
) -> None:
    on = dataclasses.replace(with_ports(settings), metrics_port=9460)
    spare = iter(range(42001, 42100))
    plan = plan_replicas(on, {"trading_svc": 16, "analysis_svc": 2}, lambda: next(spare))
    ports = {r.name: r.metrics_port for replicas in plan.values() for r in replicas}
    assert ports["credential_svc"] == 9460
    assert (ports["trading_svc-0"], ports["trading_svc-15"]) == (9480, 9495)
    assert (ports["analysis_svc-0"], ports["analysis_svc-1"]) == (9500, 9501)
    assert len(set(ports.values())) == len(ports)  # even at the most replicas a service may run
    assert replica_env(plan["trading_svc"][1])["BOTMESH_METRICS_PORT"] == "9481"


def test_auto_metrics_ports_are_free_ports_and_zero_turns_metrics_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTMESH_METRICS_PORT", "auto")
    auto = dataclasses.replace(with_ports(settings), metrics_port=load_settings().metrics_port)
    spare = iter(range(43001, 43100))
    plan = plan_replicas(auto, {"trading_svc": 2}, lambda: next(spare))
    assert [r.metrics_port for r in plan["trading_svc"]] == [43003, 43004]  # 43002: a gRPC port
    assert plan["credential_svc"][0].metrics_port == 43001
    off = plan_replicas(with_ports(settings), {"trading_svc": 2}, lambda: next(spare))
    assert {r.metrics_port for replicas in off.values() for r in replicas} == {0}


@pytest.mark.parametrize("bad", ["-1", "65536", "nine", "9460.5"])
def test_a_bad_metrics_port_is_refused_naming_the_setting(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTMESH_METRICS_PORT", bad)
    with pytest.raises(ValueError, match="BOTMESH_METRICS_PORT"):
        load_settings()


def test_metrics_are_on_by_default_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("METRICS_PORT", "METRICS_ADDRESS", "ENVOY_METRICS_PORT"):
        monkeypatch.delenv(f"BOTMESH_{name}", raising=False)
    defaults = load_settings()
    assert (defaults.metrics_port, defaults.metrics_address, defaults.envoy_metrics_port) == (
        9460,
        "127.0.0.1",
        9902,
    )


def test_settings_read_the_replica_id_and_a_target_reaching_every_replica(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTMESH_TRADING_PORT", "42001")
    monkeypatch.setenv("BOTMESH_TRADING_REPLICA_PORTS", "41002,42001")
    monkeypatch.setenv("BOTMESH_REPLICA_ID", "trading_svc-1")
    settings = load_settings("trading_svc")
    assert settings.replica_id == "trading_svc-1"
    assert settings.trading.bind == "127.0.0.1:42001"
    assert settings.trading.target == "ipv4:127.0.0.1:41002,127.0.0.1:42001"
    assert ("grpc.lb_policy_name", "round_robin") in settings.trading.channel_options
    assert ("grpc.enable_retries", 1) in settings.trading.channel_options


def test_without_replicas_the_target_is_the_one_address_and_the_id_names_host_and_pid(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTMESH_TRADING_PORT", "41002")
    monkeypatch.setenv("BOTMESH_TRADING_REPLICA_PORTS", "")
    monkeypatch.delenv("BOTMESH_REPLICA_ID", raising=False)
    settings = load_settings("trading_svc")
    assert settings.trading.target == "127.0.0.1:41002"
    assert settings.trading.channel_options == []
    # Two containers are both pid 1: their host names tell them apart.
    assert settings.replica_id == f"trading_svc-{socket.gethostname()}-{os.getpid()}"


def test_the_mesh_names_each_replica_process_and_tells_every_process_the_ports(
    settings: Settings,
) -> None:
    mesh = Mesh(with_ports(settings), {}, replicas={"trading_svc": 2, "analysis_svc": 2})
    names = [r.name for replicas in mesh.plan.values() for r in replicas]
    assert names == [
        "credential_svc",
        "trading_svc-0",
        "trading_svc-1",
        "analysis_svc-0",
        "analysis_svc-1",
    ]
    assert mesh.replica("trading_svc-1").port == int(
        mesh.env["BOTMESH_TRADING_REPLICA_PORTS"].split(",")[1]
    )
    with pytest.raises(KeyError):
        mesh.replica("trading_svc-2")
