"""`shoal manifests`: the functions rendered into a kustomize base the local broker loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from local_broker.manifests import load_manifests
from shoal.cli.main import main
from shoal.manifests import files
from shoal.manifests.render import default_image, render
from shoal.manifests.resources import Target
from shoal.runtime.discovery import discover
from shoal.runtime.errors import FunctionDefinitionError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "shoal" / "runtime" / "samples"
TARGET = Target(image="registry.example/shoal:test")


def documents(text: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(text) if document]


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render(discover(SAMPLES), ROOT, TARGET)


def test_the_base_has_a_file_per_function_and_the_shared_resources(
    rendered: dict[str, str],
) -> None:
    assert list(rendered) == [
        "broker.yaml",
        "function-broken.yaml",
        "function-dead-letters.yaml",
        "function-echo.yaml",
        "function-refuse.yaml",
        "function-ticking.yaml",
        "kustomization.yaml",
        "ping-sources.yaml",
        "sink-binding.yaml",
    ]
    (kustomization,) = documents(rendered["kustomization.yaml"])
    assert kustomization["resources"] == [n for n in rendered if n != "kustomization.yaml"]


def test_a_service_runs_the_one_image_selected_by_target_and_source(
    rendered: dict[str, str],
) -> None:
    service, trigger = documents(rendered["function-echo.yaml"])

    assert service["kind"] == "Service"
    assert service["metadata"] == {
        "name": "echo",
        "labels": {
            "app.kubernetes.io/component": "function",
            "app.kubernetes.io/part-of": "shoal",
            "shoal.dev/function": "echo",
        },
    }
    assert service["spec"] == {
        "template": {
            "spec": {
                "containers": [
                    {
                        "image": "registry.example/shoal:test",
                        "command": ["functions-framework"],
                        "env": [
                            {"name": "FUNCTION_TARGET", "value": "echo"},
                            {
                                "name": "FUNCTION_SOURCE",
                                "value": "tests/shoal/runtime/samples/emitting.py",
                            },
                            {
                                "name": "SHOAL_STATE_URL",
                                "valueFrom": {
                                    "secretKeyRef": {"name": "shoal-state", "key": "url"}
                                },
                            },
                            {"name": "WORKERS", "value": "1"},
                            {"name": "THREADS", "value": "8"},
                        ],
                    }
                ]
            }
        }
    }
    assert trigger["spec"] == {
        "broker": "default",
        "filter": {"attributes": {"type": "dev.shoal.test.echo"}},
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "echo"}
        },
        "delivery": {"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"},
    }


def test_delivery_options_and_a_dead_letter_function_become_the_trigger_delivery(
    rendered: dict[str, str],
) -> None:
    _service, trigger = documents(rendered["function-refuse.yaml"])
    (dead_letter_service,) = documents(rendered["function-dead-letters.yaml"])

    assert trigger["spec"]["delivery"] == {
        "retry": 3,
        "backoffPolicy": "exponential",
        "backoffDelay": "PT0.5S",
        "deadLetterSink": {
            "ref": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "name": "dead-letters",
            }
        },
    }
    assert dead_letter_service["kind"] == "Service"  # no subscription: no Trigger


def test_a_tick_is_a_ping_source_to_the_broker_and_a_trigger_on_its_events(
    rendered: dict[str, str],
) -> None:
    (ping_source,) = documents(rendered["ping-sources.yaml"])
    _service, tick, tests = documents(rendered["function-ticking.yaml"])

    assert ping_source["metadata"] == {
        "name": "every-second",
        "labels": {"app.kubernetes.io/part-of": "shoal"},
        "annotations": {"shoal.dev/period-seconds": "1"},
    }
    assert ping_source["spec"] == {
        "schedule": "* * * * *",
        "sink": {
            "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}
        },
    }
    assert tick["metadata"]["name"] == "ticking-every-second"
    assert tick["spec"]["filters"] == [
        {"exact": {"type": "dev.knative.sources.ping"}},
        {"suffix": {"source": "/pingsources/every-second"}},
    ]
    assert tests["metadata"]["name"] == "ticking-tests"
    assert tests["spec"]["filters"] == [
        {
            "any": [
                {"exact": {"type": "dev.shoal.test.a"}},
                {"prefix": {"type": "dev.shoal.test.b"}},
            ]
        },
        {"not": {"suffix": {"subject": "-canary"}}},
        {"cesql": "source LIKE '/tests%'"},
    ]
    assert tests["spec"]["delivery"] == {
        "retry": 2,
        "backoffPolicy": "linear",
        "backoffDelay": "PT0.2S",
        "timeout": "PT5S",
    }


def test_the_sink_binding_points_every_function_service_at_the_broker(
    rendered: dict[str, str],
) -> None:
    (binding,) = documents(rendered["sink-binding.yaml"])

    assert binding["spec"] == {
        "subject": {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/component": "function",
                    "app.kubernetes.io/part-of": "shoal",
                }
            },
        },
        "sink": {
            "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}
        },
    }


def test_rendering_is_deterministic_whatever_the_order_of_the_functions() -> None:
    specs = discover(SAMPLES)

    assert render(specs, ROOT, TARGET) == render(list(reversed(specs)), ROOT, TARGET)


def test_the_local_broker_loads_what_is_rendered(tmp_path: Path, rendered: dict[str, str]) -> None:
    files.write(rendered, tmp_path)
    services = {
        name: f"http://127.0.0.1:1/{name}"
        for name in ("echo", "broken", "refuse", "ticking", "dead-letters")
    }

    config = load_manifests(
        [tmp_path], services, broker_url=lambda ns, name: f"http://b/{ns}/{name}"
    )

    assert sorted(t.name for t in config.triggers) == [
        "broken",
        "echo",
        "refuse",
        "ticking-every-second",
        "ticking-tests",
    ]
    refuse = next(t for t in config.triggers if t.name == "refuse")
    assert refuse.dead_letter_sink == "http://127.0.0.1:1/dead-letters"
    assert [(p.name, p.period_seconds, p.sink) for p in config.ping_sources] == [
        ("every-second", 1.0, "http://b/default/default")
    ]


def test_an_unknown_dead_letter_function_is_refused(tmp_path: Path) -> None:
    module = tmp_path / "lost.py"
    module.write_text(
        "from shoal.runtime import Delivery, Subscription, function\n"
        "@function(subscriptions=[Subscription(delivery=Delivery(dead_letter_sink='nobody'))])\n"
        "def lost(event, ctx):\n    return []\n"
    )

    with pytest.raises(FunctionDefinitionError, match="dead_letter_sink 'nobody' is neither"):
        render(discover(tmp_path), tmp_path, TARGET)


def test_two_schedules_under_one_tick_name_are_refused(tmp_path: Path) -> None:
    for name, schedule in (("a", "* * * * *"), ("b", "0 * * * *")):
        (tmp_path / f"{name}.py").write_text(
            "from shoal.runtime import Tick, function\n"
            f"@function(subscriptions=[Tick('tick', {schedule!r})])\n"
            f"def {name}(event, ctx):\n    return []\n"
        )

    with pytest.raises(FunctionDefinitionError, match="tick 'tick' is declared with two"):
        render(discover(tmp_path), tmp_path, TARGET)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with one function, as the working directory."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "hello.py").write_text(
        "from shoal.runtime import Subscription, function\n"
        "@function(subscriptions=[Subscription(attributes={'type': 'dev.shoal.hello'})])\n"
        "def hello(event, ctx):\n    return []\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_fails_with_a_diff_until_the_manifests_are_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifests", "--check"]) == 1
    assert "+++ manifests/base/function-hello.yaml" in capsys.readouterr().out

    assert main(["manifests"]) == 0
    assert main(["manifests", "--check"]) == 0
    service = documents((project / "manifests/base/function-hello.yaml").read_text())[0]
    assert service["spec"]["template"]["spec"]["containers"][0]["image"] == default_image()


def test_removed_functions_lose_their_files_and_hand_written_files_stay(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifests"]) == 0
    (project / "manifests/base/extra.yaml").write_text("kind: ConfigMap\n")
    (project / "functions/hello.py").unlink()

    assert main(["manifests", "--check"]) == 1
    assert "--- manifests/base/function-hello.yaml" in capsys.readouterr().out
    assert main(["manifests"]) == 0
    assert sorted(p.name for p in (project / "manifests/base").iterdir()) == [
        "broker.yaml",
        "extra.yaml",
        "kustomization.yaml",
        "sink-binding.yaml",
    ]
