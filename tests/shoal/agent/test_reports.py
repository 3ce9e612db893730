from __future__ import annotations

from itertools import count

import pytest

from shoal.agent.driver import Usage
from shoal.agent.reports import Reporter, cpu_utilization, rfc3339
from shoal.orchestration.spec import Resources
from tests.shoal.agent.support import replica

NOW = 1767323045.5  # 2026-01-02T03:04:05.500Z


@pytest.fixture
def reporter() -> Reporter:
    ids = count(1)
    return Reporter(clock=lambda: NOW, new_id=lambda: f"id-{next(ids)}")


def envelope(type_: str, node: str, subject: str, event_id: str = "id-1") -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"/shoal/agents/{node}",
        "type": type_,
        "subject": subject,
        "time": "2026-01-02T03:04:05.500Z",
        "datacontenttype": "application/json",
        "shoalnode": node,
    }


def test_started(reporter: Reporter) -> None:
    assert reporter.started(replica("web-1", node="n2")) == {
        **envelope("dev.shoal.replica.started", "n2", "n2"),
        "data": {"replicas": [{"deployment": "web", "replica": "web-1", "node": "n2", "at": NOW}]},
    }


def test_stopped(reporter: Reporter) -> None:
    assert reporter.stopped("n1", "web", "web-1") == {
        **envelope("dev.shoal.replica.stopped", "n1", "n1"),
        "data": {"replicas": [{"deployment": "web", "replica": "web-1", "node": "n1"}]},
    }


def test_exited(reporter: Reporter) -> None:
    assert reporter.exited("n1", "web", "web-1", 137, "killed by signal 9 (SIGKILL)") == {
        **envelope("dev.shoal.replica.exited", "n1", "n1"),
        "data": {
            "replicas": [
                {
                    "deployment": "web",
                    "replica": "web-1",
                    "node": "n1",
                    "exit_code": 137,
                    "reason": "killed by signal 9 (SIGKILL)",
                    "at": NOW,
                }
            ]
        },
    }


def test_joined_says_where_the_agent_serves_when_it_knows(reporter: Reporter) -> None:
    url = "http://10.0.0.5:9100/"
    told = reporter.joined("n1", Resources(1000, 1024), {}, [], agent_url=url)
    untold = reporter.joined("n1", Resources(1000, 1024), {}, [])

    assert told["data"]["agent_url"] == url  # type: ignore[index]
    assert "agent_url" not in untold["data"]  # type: ignore[operator]


def test_joined_lists_what_runs(reporter: Reporter) -> None:
    event = reporter.joined(
        "n1",
        Resources(4000, 8192),
        {"zone": "a"},
        [replica("web-1"), replica("db-1", deployment="db")],
    )
    assert event == {
        **envelope("dev.shoal.node.joined", "n1", "n1"),
        "data": {
            "node": "n1",
            "capacity": {"cpu_millis": 4000, "memory_mib": 8192},
            "labels": {"zone": "a"},
            "replicas": [
                {"deployment": "web", "replica": "web-1"},
                {"deployment": "db", "replica": "db-1"},
            ],
        },
    }


def test_heartbeat_sums_requests_and_use(reporter: Reporter) -> None:
    replicas = [
        (replica("web-1", cpu=200, memory=64), NOW - 60, Usage(180.4, 40.2)),
        (replica("web-2", cpu=0, memory=32), NOW - 1, Usage(12.0, 10.0)),
        (replica("web-3", cpu=100, memory=16), NOW, None),
    ]
    event = reporter.heartbeat("n1", [reporter.status("n1", Resources(4000, 8192), replicas)])
    assert event == {
        **envelope("dev.shoal.node.heartbeat", "n1", "n1"),
        "data": {
            "nodes": [
                {
                    "node": "n1",
                    "capacity": {"cpu_millis": 4000, "memory_mib": 8192},
                    "allocated": {"cpu_millis": 300, "memory_mib": 112},
                    "usage": {"cpu_millis": 192, "memory_mib": 50},
                    "replicas": [
                        {
                            "deployment": "web",
                            "replica": "web-1",
                            "cpu_millis": 180,
                            "memory_mib": 40,
                            "cpu_utilization": 90,
                            "started_at": "2026-01-02T03:03:05.500Z",
                        },
                        {
                            "deployment": "web",
                            "replica": "web-2",
                            "cpu_millis": 12,
                            "memory_mib": 10,
                            "cpu_utilization": None,
                            "started_at": "2026-01-02T03:04:04.500Z",
                        },
                        {
                            "deployment": "web",
                            "replica": "web-3",
                            "cpu_millis": 0,
                            "memory_mib": 0,
                            "cpu_utilization": None,
                            "started_at": "2026-01-02T03:04:05.500Z",
                        },
                    ],
                }
            ]
        },
    }


def test_a_heartbeat_of_many_nodes_names_the_agent(reporter: Reporter) -> None:
    statuses = [reporter.status(node, Resources(1000, 512), []) for node in ("sim-0", "sim-1")]
    event = reporter.heartbeat("sim", statuses)
    assert event["source"] == "/shoal/agents/sim"
    assert "subject" not in event
    assert "shoalnode" not in event
    assert event["data"] == {"nodes": statuses}


def test_an_empty_node_heartbeats_zeros(reporter: Reporter) -> None:
    data = reporter.status("n1", Resources(1000, 512), [])
    assert data == {
        "node": "n1",
        "capacity": {"cpu_millis": 1000, "memory_mib": 512},
        "allocated": {"cpu_millis": 0, "memory_mib": 0},
        "usage": {"cpu_millis": 0, "memory_mib": 0},
        "replicas": [],
    }


def test_every_event_gets_a_fresh_id(reporter: Reporter) -> None:
    ids = [reporter.started(replica())["id"] for _ in range(3)]
    assert ids == ["id-1", "id-2", "id-3"]


@pytest.mark.parametrize(
    ("used", "requested", "percent"),
    [(90.0, 100, 90), (0.0, 100, 0), (250.0, 100, 250), (2.7, 3, 90), (50.0, 0, None)],
)
def test_cpu_utilization(used: float, requested: int, percent: int | None) -> None:
    assert cpu_utilization(used, requested) == percent


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(0.0) == "1970-01-01T00:00:00.000Z"
