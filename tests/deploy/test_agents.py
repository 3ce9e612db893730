"""Agents on fleet machines: `shoal manifests --agent NAME=URL` renders their Triggers into
manifests/agents/, which both overlays deploy with the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from shoal.cli.main import main
from shoal.manifests.agents import AgentEndpoint, parse_agent, render_agents
from shoal.manifests.resources import Target

from .conftest import NAMESPACE, OVERLAYS, ROOT, kustomize, manifests_copy
from .schemas import schema_errors

TARGET = Target(image="registry.example/shoal:test")
FLEET = [
    AgentEndpoint("n1", "http://10.0.0.5:9100/"),
    AgentEndpoint("edge-2", "https://edge-2.example.com/shoal/"),
]


def test_an_agent_option_is_a_dns_name_and_an_http_url() -> None:
    assert parse_agent("n1=http://10.0.0.5:9100/") == AgentEndpoint("n1", "http://10.0.0.5:9100/")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n1", "expected NAME=URL"),
        ("N1=http://x/", "a DNS label"),
        ("n_1=http://x/", "a DNS label"),
        (f"{'n' * 58}=http://x/", "at most 57 characters"),
        ("n1=10.0.0.5:9100", "must be http:// or https://"),
    ],
)
def test_a_bad_agent_option_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_agent(text)


def test_each_agent_gets_a_trigger_to_its_url_for_its_node() -> None:
    rendered = render_agents(FLEET, TARGET)
    (trigger,) = yaml.safe_load_all(rendered["agent-n1.yaml"])
    (kustomization,) = yaml.safe_load_all(rendered["kustomization.yaml"])

    assert list(rendered) == ["agent-edge-2.yaml", "agent-n1.yaml", "kustomization.yaml"]
    assert kustomization["resources"] == ["agent-edge-2.yaml", "agent-n1.yaml"]
    assert trigger["metadata"]["name"] == "agent-n1"
    assert "namespace" not in trigger["metadata"]
    assert trigger["spec"]["broker"] == TARGET.broker
    assert trigger["spec"]["subscriber"] == {"uri": "http://10.0.0.5:9100/"}
    assert {"exact": {"shoalnode": "n1"}} in trigger["spec"]["filters"]


def test_an_agent_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="--agent n1 given more than once"):
        render_agents([*FLEET, AgentEndpoint("n1", "http://other/")], TARGET)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlays_deploy_the_agents_triggers(
    kubectl: str, tmp_path: Path, overlay: str
) -> None:
    manifests = manifests_copy(tmp_path, agents=render_agents(FLEET, TARGET))

    objects = kustomize(kubectl, manifests / "overlays" / overlay)
    agents = {
        o["metadata"]["name"]: o
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "agent"
    }

    assert sorted(agents) == ["agent-edge-2", "agent-n1"]
    for trigger in agents.values():
        assert schema_errors(trigger) == []
        assert trigger["metadata"]["namespace"] == NAMESPACE
        assert trigger["spec"]["subscriber"]["uri"].startswith(("http://", "https://"))
        assert ("deadLetterSink" in trigger["spec"]["delivery"]) == (overlay == "production")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's functions and manifests, as the working directory."""
    shutil.copytree(ROOT / "functions", tmp_path / "functions")
    manifests_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_cli_rewrites_the_agents_folder_with_the_agents_given(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agents = project / "manifests" / "agents"
    fleet = ["--agent", "n1=http://10.0.0.5:9100/", "--agent", "edge-2=https://edge-2.example/"]

    assert main(["manifests", *fleet]) == 0
    assert "2 agent(s) (edge-2, n1) -> manifests/agents" in capsys.readouterr().out
    assert main(["manifests", "--check", *fleet]) == 0
    assert main(["manifests", "--check", "--agent", "n1=http://10.0.0.5:9100/"]) == 1
    assert "--- manifests/agents/agent-edge-2.yaml" in capsys.readouterr().out

    assert main(["manifests"]) == 0  # without --agent the folder stays as it is
    assert sorted(p.name for p in agents.iterdir()) == [
        "agent-edge-2.yaml",
        "agent-n1.yaml",
        "kustomization.yaml",
    ]
    assert main(["manifests", "--agent", "n1=http://10.0.0.5:9100/"]) == 0
    assert sorted(p.name for p in agents.iterdir()) == ["agent-n1.yaml", "kustomization.yaml"]


def test_a_bad_agent_option_exits_2_with_the_reason(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["manifests", "--agent", "n1=10.0.0.5:9100"])

    assert exited.value.code == 2
    assert "must be http:// or https://" in capsys.readouterr().err
