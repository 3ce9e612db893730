"""Knative Services and the SinkBinding as local commands and environments."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from shoal.platform.plan import PlanError, ServiceProcess, services, sink_broker

SERVICE = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {"name": "hello"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "image": "unused",
                        "command": ["functions-framework"],
                        "args": ["--debug"],
                        "env": [
                            {"name": "FUNCTION_TARGET", "value": "hello"},
                            {
                                "name": "SHOAL_STATE_URL",
                                "valueFrom": {
                                    "secretKeyRef": {"name": "shoal-state", "key": "url"}
                                },
                            },
                        ],
                    }
                ]
            }
        }
    },
}
BINDING = {
    "apiVersion": "sources.knative.dev/v1",
    "kind": "SinkBinding",
    "metadata": {"name": "b", "namespace": "team"},
    "spec": {
        "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "main"}}
    },
}
SECRETS = {("shoal-state", "url"): "sqlite:////tmp/x.db"}


def write(folder: Path, *documents: Mapping[str, object]) -> Path:
    (folder / "all.yaml").write_text(yaml.safe_dump_all(documents))
    (folder / "kustomization.yaml").write_text("resources: [all.yaml]\n")
    return folder


def test_a_service_runs_its_command_and_args_with_env_and_secrets(tmp_path: Path) -> None:
    (found,) = services(write(tmp_path, SERVICE, BINDING), SECRETS)

    assert found == ServiceProcess(
        "hello",
        ("functions-framework", "--debug"),
        {"FUNCTION_TARGET": "hello", "SHOAL_STATE_URL": "sqlite:////tmp/x.db"},
    )
    env = found.environment(8123, "http://127.0.0.1:8080/team/main")
    assert (env["PORT"], env["K_SINK"], env["HOST"]) == (
        "8123",
        "http://127.0.0.1:8080/team/main",
        "127.0.0.1",
    )
    assert env["PATH"].startswith(str(Path(sys.executable).parent))


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="needs key 'url' of the Secret 'shoal-state'"):
        services(write(tmp_path, SERVICE), {})


def test_the_sink_is_the_broker_the_sink_binding_names(tmp_path: Path) -> None:
    assert sink_broker(write(tmp_path, SERVICE, BINDING)) == ("team", "main")


def test_without_a_sink_binding_there_is_no_k_sink(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no SinkBinding"):
        sink_broker(write(tmp_path, SERVICE))
