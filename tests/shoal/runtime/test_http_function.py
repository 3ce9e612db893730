"""`@http_function`: declared, discovered and rendered next to CloudEvents functions, and served
by functions-framework with a state snapshot per request."""

from __future__ import annotations

import io
import json
from pathlib import Path

import flask
import functions_framework
import pytest
import yaml

from local_broker.manifests import load_manifests
from shoal.manifests.render import render
from shoal.manifests.resources import Target
from shoal.runtime import FunctionSpec, HttpFunctionSpec, StateReader, http_function, spec_of
from shoal.runtime.discovery import discover
from shoal.runtime.errors import FunctionDefinitionError
from shoal.runtime.http_function import http_spec_of
from shoal.state import open_store

READER = """
import flask
from shoal.runtime import StateReader, http_function

calls = []

@http_function
def counters(request: flask.Request, state: StateReader) -> flask.Response:
    calls.append(request.path)
    if request.path == "/fail":
        raise RuntimeError("boom")
    if request.path == "/conflict" and len(calls) == 1:
        from shoal.state import Conflict
        raise Conflict("a writer held the lock")
    names = [resource.name for resource in state.list("Counter")]
    return flask.jsonify(names)
"""
HANDLER = """
from shoal.runtime import Subscription, function

@function(subscriptions=[Subscription(attributes={"type": "dev.shoal.count"})])
def count(event, ctx):
    return []
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "counters.py").write_text(READER)
    (tmp_path / "count.py").write_text(HANDLER)
    return tmp_path


def serve(monkeypatch: pytest.MonkeyPatch, project: Path, state_url: str) -> flask.Flask:
    monkeypatch.setenv("FUNCTION_TARGET", "counters")
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setenv("SHOAL_STATE_URL", state_url)
    app: flask.Flask = functions_framework.create_app("counters", str(project / "counters.py"))
    return app


def test_the_decorator_attaches_an_http_spec_to_a_plain_function_target() -> None:
    def hello(request: flask.Request, state: StateReader) -> flask.Response:
        return flask.Response("hello")

    target = http_function(hello)

    spec = http_spec_of(target)
    assert isinstance(spec, HttpFunctionSpec)
    assert (target.__name__, spec.service, spec.source_file) == (
        "hello",
        "hello",
        Path(__file__).resolve(),
    )
    assert spec_of(target) is None
    assert http_spec_of(spec) is None


def test_a_name_that_cannot_be_a_service_is_refused_at_import() -> None:
    def Hello(request: flask.Request, state: StateReader) -> flask.Response:  # noqa: N802
        return flask.Response("hello")

    with pytest.raises(FunctionDefinitionError, match="'Hello' is not a Kubernetes name"):
        http_function(Hello)


def test_discovery_finds_both_kinds_of_function(project: Path) -> None:
    specs = discover(project)

    assert [(spec.name, type(spec)) for spec in specs] == [
        ("count", FunctionSpec),
        ("counters", HttpFunctionSpec),
    ]


def test_it_renders_as_a_service_without_triggers_and_the_broker_loads_it(
    project: Path, tmp_path: Path
) -> None:
    rendered = render(discover(project), project, Target(image="registry.example/shoal:test"))

    documents = list(yaml.safe_load_all(rendered["function-counters.yaml"]))
    assert [document["kind"] for document in documents] == ["Service"]
    env = documents[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "FUNCTION_SOURCE", "value": "counters.py"} in env
    assert "function-counters.yaml" in yaml.safe_load(rendered["kustomization.yaml"])["resources"]
    out = tmp_path / "manifests"
    out.mkdir()
    for name, text in rendered.items():
        (out / name).write_text(text)
    services = {"count": "http://127.0.0.1:1/", "counters": "http://127.0.0.1:2/"}
    config = load_manifests([out], services, broker_url=lambda ns, name: f"http://b/{ns}/{name}")
    assert [trigger.name for trigger in config.triggers] == ["count"]


def test_each_request_reads_the_state_store(
    monkeypatch: pytest.MonkeyPatch, project: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    with store.transaction() as tx:
        tx.put("Counter", "b", {"n": 1})
        tx.put("Counter", "a", {"n": 2})
    client = serve(monkeypatch, project, url).test_client()

    assert client.get("/").get_json() == ["a", "b"]
    with store.transaction() as tx:
        tx.delete("Counter", "a")
    assert client.get("/anything").get_json() == ["b"]
    store.close()


def test_a_conflict_re_runs_the_handler(
    monkeypatch: pytest.MonkeyPatch, project: Path, tmp_path: Path
) -> None:
    client = serve(monkeypatch, project, f"sqlite:///{tmp_path / 'state.db'}").test_client()

    response = client.get("/conflict")

    assert (response.status_code, response.get_json()) == (200, [])


def test_a_failing_handler_answers_500_with_a_json_error_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, project: Path, tmp_path: Path, json_log: io.StringIO
) -> None:
    client = serve(monkeypatch, project, f"sqlite:///{tmp_path / 'state.db'}").test_client()

    response = client.get("/fail")

    assert response.status_code == 500
    assert response.get_json() == {"error": "counters failed: RuntimeError: boom"}
    line = json.loads(json_log.getvalue().splitlines()[-1])
    assert (line["message"], line["function"]) == ("handler failed", "counters")
    assert "RuntimeError: boom" in line["traceback"]


def test_a_state_store_that_cannot_be_opened_answers_503(
    monkeypatch: pytest.MonkeyPatch, project: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-folder" / "state.db"
    client = serve(monkeypatch, project, f"sqlite:///{missing}").test_client()

    response = client.get("/")

    assert response.status_code == 503
    assert response.get_json()["error"].startswith("state store unavailable: ")
