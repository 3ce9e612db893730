from __future__ import annotations

import re

import pytest

from shoal.agent.errors import InvalidEvent
from shoal.agent.spec import parse_scheduled, parse_scheduled_event, parse_stop_requested
from shoal.orchestration.probes import Probe
from tests.shoal.agent.support import replica, scheduled_data

SCHEDULED = {
    "deployment": "web",
    "replica": "web-7d9f-x2",
    "node": "n1",
    "image": "127.0.0.1:5000/web:v1",
    "command": ["httpd", "-f", "-p", "$PORT"],
    "env": {"GREETING": "hello"},
    "resources": {"cpu_millis": 100, "memory_mib": 64},
    "ports": [{"name": "http", "port": 31000}],
}


def test_scheduled_data_round_trips() -> None:
    assert parse_scheduled(SCHEDULED).to_data() == SCHEDULED


def test_optional_fields_default_to_empty() -> None:
    minimal = {key: SCHEDULED[key] for key in ("deployment", "replica", "node", "image")}
    spec = parse_scheduled(minimal)
    assert (spec.command, dict(spec.env), spec.ports) == ((), {}, ())
    assert (spec.resources.cpu_millis, spec.resources.memory_mib) == (0, 0)


def test_environment_adds_the_assigned_ports() -> None:
    spec = replica(env={"PORT": "1", "MODE": "x"}, ports=[("http", 8081), ("admin-ui", 8082)])
    assert spec.environment() == {
        "MODE": "x",
        "PORT": "8081",
        "PORT_HTTP": "8081",
        "PORT_ADMIN_UI": "8082",
    }


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("$PORT", "8081"),
        ("${PORT}", "8081"),
        ("--port=$PORT_HTTP", "--port=8081"),
        ("$$PORT", "$PORT"),
        ("$UNSET", "$UNSET"),
        ("$GREETING world", "hello world"),
        ("plain", "plain"),
    ],
)
def test_argv_substitutes_the_environment(argument: str, expected: str) -> None:
    spec = replica(command=["run", argument], env={"GREETING": "hello"}, ports=[("http", 8081)])
    assert spec.argv() == ("run", expected)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replica": None}, "data.replica"),
        ({"replica": "Web_1"}, "data.replica"),
        ({"replica": "-web"}, "data.replica"),
        ({"deployment": ""}, "data.deployment"),
        ({"node": 3}, "data.node"),
        ({"image": None}, "data.image"),
        ({"command": "httpd -f"}, "data.command"),
        ({"command": ["httpd", 1]}, "data.command"),
        ({"env": {"A": 1}}, "data.env"),
        ({"env": ["A=1"]}, "data.env"),
        ({"resources": {"cpu_millis": -1}}, "data.resources.cpu_millis"),
        ({"resources": {"memory_mib": "64Mi"}}, "data.resources.memory_mib"),
        ({"resources": {"cpu_millis": True}}, "data.resources.cpu_millis"),
        ({"ports": {"http": 1}}, "data.ports"),
        ({"ports": [{"name": "http", "port": 0}]}, "data.ports[0].port"),
        ({"ports": [{"port": 8080}]}, "data.ports[0].name"),
    ],
)
def test_invalid_scheduled_data_names_the_field(change: dict[str, object], field: str) -> None:
    data = {**SCHEDULED, **change}
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(InvalidEvent, match=re.escape(field)):
        parse_scheduled(data)


def test_scheduled_data_must_be_an_object() -> None:
    with pytest.raises(InvalidEvent, match="data must be a JSON object"):
        parse_scheduled(["web-1"])


def test_stop_requested_data() -> None:
    entries = [
        {"deployment": "web", "replica": "web-1", "node": "n1"},
        {"deployment": "db", "replica": "db-1", "node": "n1"},
    ]
    assert parse_stop_requested({"replicas": entries}) == entries
    with pytest.raises(InvalidEvent, match=r"data\.node"):
        parse_stop_requested({"replicas": [{"deployment": "web", "replica": "web-1"}]})
    with pytest.raises(InvalidEvent, match=r"data\.replicas must be a non-empty list"):
        parse_stop_requested({"replicas": []})


def test_a_scheduled_event_lists_specs() -> None:
    other = {**SCHEDULED, "replica": "web-7d9f-x3"}
    specs = parse_scheduled_event({"replicas": [SCHEDULED, other]})
    assert [spec.to_data() for spec in specs] == [SCHEDULED, other]
    with pytest.raises(InvalidEvent, match=r"data\.replicas\[1\] must be a JSON object"):
        parse_scheduled_event({"replicas": [SCHEDULED, "web-1"]})


PROBED = {
    **SCHEDULED,
    "ports": [{"name": "http", "port": 31000}, {"name": "admin", "port": 31001}],
    "readiness": Probe("http", "admin", "/healthz", 5, 2, 3, 2, 4).to_data(),
}


def test_a_readiness_probe_is_read_from_the_entry() -> None:
    spec = parse_scheduled(PROBED)
    assert spec.readiness == Probe("http", "admin", "/healthz", 5, 2, 3, 2, 4)
    assert spec.probe_port() == 31001  # the host port assigned to "admin", not the first


def test_without_a_readiness_probe_there_is_no_port_to_probe() -> None:
    spec = parse_scheduled(SCHEDULED)
    assert (spec.readiness, spec.probe_port()) == (None, None)


def test_an_exec_probe_needs_no_port() -> None:
    probe = Probe("exec", command=("cat", "$PORT_ADMIN"))
    spec = parse_scheduled({**PROBED, "ports": [], "readiness": probe.to_data()})
    assert (spec.readiness, spec.probe_port()) == (probe, None)


@pytest.mark.parametrize(
    "probe",
    [
        Probe("http", "admin", "/healthz", 5, 2, 3, 2, 4),
        Probe("tcp", "http"),
        Probe("exec", command=("pg_isready", "-p", "$PORT")),
    ],
)
def test_a_readiness_probe_round_trips(probe: Probe) -> None:
    data = {**PROBED, "readiness": probe.to_data()}
    assert parse_scheduled(data).to_data() == data
    assert parse_scheduled_event(scheduled_data(parse_scheduled(data)))[0].readiness == probe


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"readiness": Probe("tcp", "metrics").to_data()},
            "data.readiness.port 'metrics' is not one of the replica's ports (http, admin)",
        ),
        (
            {"ports": [], "readiness": Probe("tcp", "http").to_data()},
            "data.readiness.port 'http' is not one of the replica's ports (none)",
        ),
        ({"readiness": {"action": "udp", "port": "http"}}, "data.readiness.action"),
        ({"readiness": {"action": "exec", "port": "http"}}, "data.readiness.command"),
        ({"readiness": {"action": "tcp"}}, "data.readiness.port"),
        (
            {"readiness": {**Probe("tcp", "http").to_data(), "period_seconds": 0}},
            "data.readiness.period_seconds",
        ),
        (
            {"readiness": {**Probe("http", "http").to_data(), "path": "healthz"}},
            "data.readiness.path",
        ),
        ({"readiness": "tcp:http"}, "data.readiness must be a JSON object"),
    ],
)
def test_invalid_readiness_names_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(message)):
        parse_scheduled({**PROBED, **change})


def test_a_liveness_probe_is_read_and_written_as_readiness_is() -> None:
    liveness = Probe("tcp", "http", period_seconds=2)
    entry = {**PROBED, "liveness": liveness.to_data()}

    spec = parse_scheduled(entry)

    assert (spec.readiness, spec.liveness) == (parse_scheduled(PROBED).readiness, liveness)
    assert spec.port_for(liveness) == 31000
    assert spec.to_data() == entry


def test_an_invalid_liveness_probe_names_its_own_field() -> None:
    with pytest.raises(InvalidEvent, match=re.escape("data.liveness.port 'metrics' is not one")):
        parse_scheduled({**PROBED, "liveness": Probe("tcp", "metrics").to_data()})
    bad: dict[str, object] = {**Probe("tcp", "http").to_data(), "period_seconds": 0}
    with pytest.raises(InvalidEvent, match=re.escape("data.liveness.period_seconds must be")):
        parse_scheduled({**PROBED, "liveness": bad})


def test_a_startup_probe_is_read_and_written_too() -> None:
    startup = Probe("exec", command=("test", "-e", "/tmp/warm"), failure_threshold=30)
    entry = {**PROBED, "startup": startup.to_data()}

    spec = parse_scheduled(entry)

    assert (spec.startup, spec.port_for(startup)) == (startup, None)
    assert spec.to_data() == entry
