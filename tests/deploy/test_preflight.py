"""The preflight checks of `shoal deploy`, against a fake kubectl: what each finds, and that
every problem says what to do."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from shoal.deploy.kubectl import Completed
from shoal.deploy.overlay import image_override, split_image
from shoal.deploy.preflight import (
    DEFAULT_SKIPPING_TAG_RESOLVING,
    NO_CONTEXT,
    NO_KUBECTL,
    check_images,
    preflight,
    registry_of,
)
from shoal.deploy.rendered import Rendered, SecretKeyRef
from shoal.manifests.render import default_image

from .conftest import Object
from .fake_kubectl import CONNECTION_REFUSED, NOT_FOUND, OK, Answer, FakeKubectl

PUSHED = "kind.local/shoal:dev"


def listed(kind: str) -> Answer:
    """An answer to `kubectl get KIND NAME... --output=name` that finds every name."""

    def answer(args: tuple[str, ...]) -> Completed:
        names = [a for a in args[2:] if not a.startswith("-") and a != "knative-eventing"]
        return Completed(0, "".join(f"{kind}/{name}\n" for name in names))

    return answer


HEALTHY: dict[tuple[str, ...], Answer] = {
    ("config", "current-context"): Completed(0, "kind-knative\n"),
    ("version", "--output=json"): OK,
    ("get", "crd"): listed("customresourcedefinition.apiextensions.k8s.io"),
    ("get", "deployment"): listed("deployment.apps"),
    ("get", "secret"): Completed(0, "url\n"),
    ("get", "configmap", "config-deployment"): Completed(0, "kind.local,ko.local,dev.local"),
}


def cluster(changes: Mapping[tuple[str, ...], Answer] | None = None) -> FakeKubectl:
    """A cluster with Knative, the Kafka Broker and the Secret: some answers changed."""
    return FakeKubectl({**HEALTHY, **(changes or {})})


def rendered(image: str = PUSHED, broker_class: str = "Kafka") -> Rendered:
    metadata: Object = {"name": "default", "namespace": "shoal"}
    metadata["annotations"] = {"eventing.knative.dev/broker.class": broker_class}
    state = {
        "name": "SHOAL_STATE_URL",
        "valueFrom": {"secretKeyRef": {"name": "shoal-state", "key": "url"}},
    }
    function: Object = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": "audit",
            "namespace": "shoal",
            "labels": {
                "app.kubernetes.io/part-of": "shoal",
                "app.kubernetes.io/component": "function",
            },
        },
        "spec": {"template": {"spec": {"containers": [{"image": image, "env": [state]}]}}},
    }
    trigger: Object = {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {}}
    broker: Object = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": metadata,
    }
    return Rendered((broker, function, trigger))


def test_what_an_overlay_needs_is_read_from_its_objects(overlays: dict[str, list[Object]]) -> None:
    needs = Rendered(tuple(overlays["production"]))

    assert needs.crds == [
        "brokers.eventing.knative.dev",
        "pingsources.sources.knative.dev",
        "services.serving.knative.dev",
        "sinkbindings.sources.knative.dev",
        "triggers.eventing.knative.dev",
    ]
    assert needs.broker_classes == ["Kafka"]
    assert needs.secret_refs == [SecretKeyRef("shoal", "shoal-state", "url")]
    assert needs.function_images == [default_image()]


def test_a_ready_cluster_and_a_loaded_image_pass() -> None:
    assert preflight(cluster(), rendered()) == []


def test_without_kubectl_nothing_else_is_asked() -> None:
    kubectl = FakeKubectl({}, installed=False)

    assert preflight(kubectl, rendered()) == [NO_KUBECTL]
    assert kubectl.calls == []
    assert "kubectl 1.21 or later" in NO_KUBECTL.fix


def test_without_a_context_it_says_how_to_choose_one() -> None:
    kubectl = cluster({("config", "current-context"): Completed(1)})

    assert preflight(kubectl, rendered()) == [NO_CONTEXT]
    assert kubectl.calls == [("config", "current-context")]
    assert "kubectl config use-context NAME" in NO_CONTEXT.fix


def test_a_cluster_that_does_not_answer_is_named_with_kubectl_s_reason() -> None:
    (problem,) = preflight(cluster({("version", "--output=json"): CONNECTION_REFUSED}), rendered())

    assert problem.blocking
    assert "'kind-knative' does not answer: The connection to the server" in problem.what
    assert "kubectl cluster-info" in problem.fix


def test_missing_knative_crds_are_listed() -> None:
    found = Completed(
        1,
        "customresourcedefinition.apiextensions.k8s.io/services.serving.knative.dev\n",
        'Error from server (NotFound): customresourcedefinitions "brokers.eventing.knative.dev" '
        "not found",
    )

    (problem,) = preflight(cluster({("get", "crd"): found}), rendered())

    assert problem.what == (
        "Knative is not installed: the cluster has no CRD brokers.eventing.knative.dev, "
        "triggers.eventing.knative.dev"
    )
    assert "install Knative Serving and Eventing" in problem.fix


def test_a_broker_class_without_its_data_plane_says_what_to_install() -> None:
    found = Completed(1, "deployment.apps/kafka-controller\n", "NotFound")

    (problem,) = preflight(cluster({("get", "deployment"): found}), rendered())

    assert problem.what == (
        "the Broker class Kafka is not installed: no kafka-broker-receiver, "
        "kafka-broker-dispatcher in knative-eventing"
    )
    assert "eventing-kafka-broker.yaml" in problem.fix


def test_the_dev_broker_class_needs_the_channel_based_broker() -> None:
    nothing = Completed(1, stderr="Error from server (NotFound): ...")

    (problem,) = preflight(
        cluster({("get", "deployment"): nothing}), rendered(broker_class="MTChannelBasedBroker")
    )

    assert "no mt-broker-controller, mt-broker-ingress, mt-broker-filter" in problem.what
    assert "in-memory-channel.yaml" in problem.fix


def test_a_missing_state_secret_comes_with_the_command_that_creates_it() -> None:
    kubectl = cluster({("get", "secret"): NOT_FOUND})

    (problem,) = preflight(kubectl, rendered())
    (secret_call,) = [call for call in kubectl.calls if call[:2] == ("get", "secret")]

    assert problem.what.startswith("no Secret shoal-state in namespace shoal")
    assert (
        "kubectl -n shoal create secret generic shoal-state "
        "--from-literal=url=postgresql://USER:PASSWORD@HOST:5432/DB" in problem.fix
    )
    assert secret_call[-1].startswith("--output=go-template={{range $key, $value := .data}}")


def test_a_secret_without_the_key_is_reported() -> None:
    (problem,) = preflight(cluster({("get", "secret"): Completed(0, "password\n")}), rendered())

    assert problem.what == "the Secret shoal/shoal-state has no key 'url'"


def test_a_secret_kubectl_may_not_read_is_reported_with_kubectl_s_reason() -> None:
    forbidden = Completed(1, stderr='Error from server (Forbidden): secrets "shoal-state" is ...')

    (problem,) = preflight(cluster({("get", "secret"): forbidden}), rendered())

    assert problem.what.startswith("cannot read Secret shoal/shoal-state: Error from server (Forb")
    assert "kubectl auth can-i" in problem.fix


@pytest.mark.parametrize(
    ("image", "context", "expected"),
    [
        (PUSHED, "kind-knative", []),
        ("registry.example.com/shoal:1", "prod", []),
        ("localhost:5001/shoal:1", "prod", []),
        (default_image(), "prod", [(True, "the functions run the default image")]),
        ("shoal:dev", "kind-knative", [(True, "the image shoal:dev names no registry")]),
        ("me/shoal:dev", "prod", [(True, "the image me/shoal:dev names no registry")]),
        ("ghcr.io/me/shoal:1", "kind-knative", [(False, "Knative resolves the tag")]),
    ],
)
def test_an_image_must_be_built_and_name_a_registry_the_cluster_can_use(
    image: str, context: str, expected: list[tuple[bool, str]]
) -> None:
    problems = check_images([image], context, DEFAULT_SKIPPING_TAG_RESOLVING)

    assert len(problems) == len(expected)
    for problem, (blocking, start) in zip(problems, expected, strict=True):
        assert problem.blocking == blocking
        assert problem.what.startswith(start)


def test_a_warning_lets_the_deploy_go_on() -> None:
    kubectl = cluster()

    (problem,) = preflight(kubectl, rendered(image="ghcr.io/me/shoal:1"))

    assert not problem.blocking
    assert "kind.local, ko.local, dev.local" in problem.fix
    assert str(problem).startswith("warning: Knative resolves the tag of ghcr.io/me/shoal:1")


@pytest.mark.parametrize(
    ("image", "registry", "parts"),
    [
        ("kind.local/shoal:dev", "kind.local", ("kind.local/shoal", "dev", "")),
        ("localhost:5001/a/shoal:1", "localhost:5001", ("localhost:5001/a/shoal", "1", "")),
        ("shoal", None, ("shoal", "", "")),
        ("me/shoal:1@sha256:ab", None, ("me/shoal", "1", "sha256:ab")),
        (
            "reg.example:443/shoal@sha256:ab",
            "reg.example:443",
            ("reg.example:443/shoal", "", "sha256:ab"),
        ),
    ],
)
def test_image_references_are_read_as_docker_reads_them(
    image: str, registry: str | None, parts: tuple[str, str, str]
) -> None:
    assert registry_of(image) == registry
    assert split_image(image) == parts


def test_the_image_override_replaces_the_repository_shoal_manifests_writes() -> None:
    assert image_override("kind.local/shoal:dev") == {
        "name": "ghcr.io/shoal-dev/shoal",
        "newName": "kind.local/shoal",
        "newTag": "dev",
    }
    assert image_override("reg.example/shoal:1@sha256:ab")["digest"] == "sha256:ab"
