"""The read-only API (functions/api.py) as functions-framework serves it, through Flask's test
client, over a real SQLite store holding records written through `shoal.model`.

The item schemas asserted here are the documented, stable JSON of `shoal get -o json`
(docs/cli.md): a change that breaks one of these tests breaks users' scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask
import functions_framework
import pytest
from flask.testing import FlaskClient

from shoal.runtime import HttpFunctionSpec
from shoal.runtime.discovery import load_module_functions
from shoal.state import open_store

from .api_records import write_cluster

API_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "api.py"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FlaskClient:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    write_cluster(store)
    store.close()
    monkeypatch.setenv("FUNCTION_TARGET", "api")  # functions-framework writes these; restore
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setenv("SHOAL_STATE_URL", url)
    app: flask.Flask = functions_framework.create_app("api", str(API_SOURCE))
    return app.test_client()


def get(client: FlaskClient, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def test_it_is_an_http_function_without_subscriptions() -> None:
    (spec,) = load_module_functions(API_SOURCE)

    assert isinstance(spec, HttpFunctionSpec)
    assert (spec.name, spec.service) == ("api", "api")


def test_the_index_answers_readiness_probes(client: FlaskClient) -> None:
    assert get(client, "/") == {
        "function": "api",
        "resources": ["deployments", "nodes", "replicas"],
    }


def test_a_deployment_has_its_status_revision_history_and_document(client: FlaskClient) -> None:
    web = get(client, "/deployments/web")

    assert web == {
        "name": "web",
        "replicas": 3,
        "ready": 1,
        "updated": 2,
        "available": 1,
        "revision": "bbbbbbbbbb",
        "revision_number": 2,
        "state": "progressing",
        "image": "registry.example/web:v2",
        "follows": "registry.example/web:v2",
        "revisions": [
            {
                "number": 1,
                "revision": "aaaaaaaaaa",
                "image": "registry.example/web:v1",
                "created_at": "2026-09-21T14:13:20.000Z",
            },
            {
                "number": 2,
                "revision": "bbbbbbbbbb",
                "image": "registry.example/web:v2",
                "created_at": "2026-09-21T14:14:20.000Z",
            },
        ],
        "manifest": {
            "apiVersion": "shoal.dev/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 3, "image": "registry.example/web:v2"},
        },
    }


def test_deployments_are_listed_by_name(client: FlaskClient) -> None:
    listed = get(client, "/deployments")

    assert (listed["apiVersion"], listed["kind"]) == ("shoal.dev/v1", "DeploymentList")
    assert [item["name"] for item in listed["items"]] == ["web", "worker"]
    assert listed["items"][0] == get(client, "/deployments/web")
    worker = listed["items"][1]
    assert (worker["revision_number"], worker["revisions"], worker["follows"]) == (None, [], None)


def test_a_replica_has_its_placement_phase_and_history(client: FlaskClient) -> None:
    assert get(client, "/replicas/web-aaaaaa-00000003") == {
        "name": "web-aaaaaa-00000003",
        "deployment": "web",
        "revision": "aaaaaaaaaa",
        "node": "n2",
        "phase": "exited",
        "ports": [],
        "resources": {"cpu_millis": 100, "memory_mib": 64},
        "restarts": 2,
        "exit_code": 1,
        "reason": "exited with status 1",
        "created_at": "2026-09-21T14:13:20.000Z",
        "ready_since": None,
        "unready_reason": None,
    }
    unplaced = get(client, "/replicas/web-bbbbbb-00000002")
    assert (unplaced["node"], unplaced["phase"]) == (None, "unschedulable")


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["web-aaaaaa-00000003", "web-bbbbbb-00000001", "web-bbbbbb-00000002",
              "worker-cccccc-00000004"]),
        ("?deployment=web", ["web-aaaaaa-00000003", "web-bbbbbb-00000001",
                             "web-bbbbbb-00000002"]),
        ("?node=n1", ["web-bbbbbb-00000001", "worker-cccccc-00000004"]),
        ("?deployment=web&node=n1", ["web-bbbbbb-00000001"]),
        ("?deployment=nothing", []),
    ],
)  # fmt: skip
def test_replicas_filter_by_deployment_and_node(
    client: FlaskClient, query: str, names: list[str]
) -> None:
    listed = get(client, f"/replicas{query}")

    assert listed["kind"] == "ReplicaList"
    assert [item["name"] for item in listed["items"]] == names


def test_a_node_has_capacity_allocation_and_usage(client: FlaskClient) -> None:
    assert get(client, "/nodes/n1") == {
        "name": "n1",
        "ready": True,
        "capacity": {"cpu_millis": 4000, "memory_mib": 8192},
        "allocated": {"cpu_millis": 100, "memory_mib": 64},
        "usage": {"cpu_millis": 30, "memory_mib": 20},
        "replicas": 2,
        "ports": [31000],
        "labels": {"zone": "a"},
        "created_at": "2026-09-21T12:13:20.000Z",
        "joined_at": "2026-09-21T13:13:20.000Z",
        "last_heartbeat": "2026-09-21T14:15:00.000Z",
        "agent_url": "http://127.0.0.1:9001/",
    }
    listed = get(client, "/nodes")
    assert listed["kind"] == "NodeList"
    assert [(n["name"], n["ready"]) for n in listed["items"]] == [("n1", True), ("n2", False)]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/deployments/nope", "deployment 'nope' not found"),
        ("/replicas/nope", "replica 'nope' not found"),
        ("/nodes/nope", "node 'nope' not found"),
        ("/pods", "no such path '/pods': the API serves /deployments, /replicas, /nodes"),
        ("/nodes/n1/replicas", "no such path"),
    ],
)
def test_unknown_names_and_paths_are_404_with_a_json_error(
    client: FlaskClient, path: str, message: str
) -> None:
    assert message in get(client, path, 404)["error"]


def test_unknown_query_parameters_are_refused_not_ignored(client: FlaskClient) -> None:
    error = get(client, "/replicas?nod=n1", 400)["error"]

    assert error == "unknown query parameter(s) nod; /replicas takes deployment, node"
    assert "takes no query parameters" in get(client, "/nodes?node=n1", 400)["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_it_is_read_only(client: FlaskClient, method: str) -> None:
    response = client.open("/deployments/web", method=method, json={"replicas": 0})

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.get_json() == {"error": "the API is read-only: use GET, HEAD"}
    assert get(client, "/deployments/web")["replicas"] == 3


def test_head_answers_like_get_without_a_body(client: FlaskClient) -> None:
    response = client.head("/deployments/web")

    assert response.status_code == 200
    assert response.get_data() == b""
