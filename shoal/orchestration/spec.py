"""The Deployment resource: what a user writes, validated into frozen dataclasses.

Field meanings and defaults follow the Kubernetes Deployment
(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#writing-a-deployment-spec):
replicas defaults to 1, maxSurge and maxUnavailable to 25%, progressDeadlineSeconds to 600 and
must exceed minReadySeconds, revisionHistoryLimit to 10. `metadata.annotations` are strings kept
for tools (`images` records there the tag a pinned image follows). Validation reports every problem
at once, each naming the field path and what to write instead, and never stops at the first one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from shoal.orchestration.fields import Problem, Reader
from shoal.orchestration.probe_spec import (
    parse_liveness_probe,
    parse_readiness_probe,
    parse_startup_probe,
)
from shoal.orchestration.probes import Probe, probes_data
from shoal.orchestration.quantity import Percent, QuantityError, parse_cpu, parse_memory

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_SURGE",
    "DEFAULT_MAX_UNAVAILABLE",
    "KIND",
    "Autoscale",
    "Constraints",
    "Deployment",
    "InvalidSpec",
    "Percent",
    "PodTemplate",
    "Port",
    "Probe",
    "Problem",
    "Resources",
    "Strategy",
    "parse_deployment",
    "template_hash",
]

API_VERSION = "shoal.dev/v1"
KIND = "Deployment"
DEFAULT_MAX_SURGE = Percent(25)
DEFAULT_MAX_UNAVAILABLE = Percent(25)


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


class InvalidSpec(ValueError):  # noqa: N818 - the name the design gives it
    """A spec the user must fix; `problems` lists every field that is wrong and how to fix it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid Deployment ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Resources:
    cpu_millis: int = 0
    memory_mib: int = 0


@dataclass(frozen=True)
class Port:
    """A named port; the scheduler assigns the host port and passes it as $PORT."""

    name: str


@dataclass(frozen=True)
class PodTemplate:
    """Everything that makes two replicas interchangeable: a change here is a new revision."""

    image: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=_empty)
    resources: Resources = Resources()
    ports: tuple[Port, ...] = ()
    readiness: Probe | None = None
    """`spec.readinessProbe`: without one a replica is ready once it has started."""
    liveness: Probe | None = None
    """`spec.livenessProbe`: without one a replica runs until it exits by itself."""
    startup: Probe | None = None
    """`spec.startupProbe`: holds the other probes back until it passes."""


@dataclass(frozen=True)
class Strategy:
    max_surge: int | Percent = DEFAULT_MAX_SURGE
    max_unavailable: int | Percent = DEFAULT_MAX_UNAVAILABLE


@dataclass(frozen=True)
class Autoscale:
    max_replicas: int
    min_replicas: int = 1
    target_cpu_utilization: int = 80


@dataclass(frozen=True)
class Constraints:
    node_selector: Mapping[str, str] = field(default_factory=_empty)


@dataclass(frozen=True)
class Deployment:
    name: str
    template: PodTemplate
    replicas: int = 1
    strategy: Strategy = Strategy()
    min_ready_seconds: int = 0
    progress_deadline_seconds: int = 600
    revision_history_limit: int = 10
    autoscale: Autoscale | None = None
    constraints: Constraints = Constraints()
    annotations: Mapping[str, str] = field(default_factory=_empty)


def template_hash(deployment: Deployment) -> str:
    """A short, stable name for the revision: equal templates give equal hashes on every host.

    Only the pod template counts (like Kubernetes' pod-template-hash), so scaling or changing
    the strategy never starts a rollout. Canonical JSON keeps it independent of dict order.
    """
    template = deployment.template
    fields: dict[str, object] = {
        "image": template.image,
        "command": list(template.command),
        "env": dict(template.env),
        "resources": [template.resources.cpu_millis, template.resources.memory_mib],
        "ports": [port.name for port in template.ports],
        # Only the probes there are: a template without any keeps its hash from before probes.
        **probes_data(template.readiness, template.liveness, template.startup),
    }
    canonical = json.dumps(
        fields,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def parse_deployment(document: object) -> Deployment:
    """Validate a decoded YAML/JSON document; raise `InvalidSpec` listing every problem."""
    if not isinstance(document, Mapping):
        example = f"apiVersion: {API_VERSION}, kind: {KIND}, metadata: {{name: web}}, spec: ..."
        raise InvalidSpec([Problem("", f"must be a mapping; write {example}")])
    reader = Reader()
    top = reader.fields(document, "", {"apiVersion", "kind", "metadata", "spec"})
    for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        if top.get(key) != expected:
            reader.problem(key, f"is {top.get(key)!r}; write {key}: {expected}")
    metadata = reader.fields(top.get("metadata"), "metadata", {"name", "annotations"})
    name = _name(reader, metadata)
    annotations = reader.string_map(metadata.get("annotations", {}), "metadata.annotations")
    spec = reader.fields(
        top.get("spec"),
        "spec",
        {
            "replicas", "image", "command", "env", "resources", "ports", "strategy",
            "minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit",
            "autoscale", "constraints", "readinessProbe", "livenessProbe", "startupProbe",
        },
    )  # fmt: skip
    template = PodTemplate(
        image=_image(reader, spec.get("image")),
        command=reader.string_list(spec.get("command", []), "spec.command"),
        env=reader.string_map(spec.get("env", {}), "spec.env", key_pattern=_ENV_NAME),
        resources=_resources(reader, spec.get("resources", {})),
        ports=_ports(reader, spec.get("ports", [])),
    )
    port_names = [port.name for port in template.ports]
    template = replace(
        template,
        readiness=parse_readiness_probe(reader, spec.get("readinessProbe"), port_names),
        liveness=parse_liveness_probe(reader, spec.get("livenessProbe"), port_names),
        startup=parse_startup_probe(reader, spec.get("startupProbe"), port_names),
    )
    min_ready = reader.integer(spec, "minReadySeconds", "spec", default=0)
    deadline = reader.integer(spec, "progressDeadlineSeconds", "spec", default=600)
    if deadline <= min_ready:
        reader.problem(
            "spec.progressDeadlineSeconds",
            f"is {deadline} but must be greater than minReadySeconds ({min_ready}), or no "
            f"replica could ever count as available in time; write e.g. {min_ready + 600}",
        )
    deployment = Deployment(
        name=name,
        template=template,
        replicas=reader.integer(spec, "replicas", "spec", default=1),
        strategy=_strategy(reader, spec.get("strategy", {})),
        min_ready_seconds=min_ready,
        progress_deadline_seconds=deadline,
        revision_history_limit=reader.integer(spec, "revisionHistoryLimit", "spec", default=10),
        autoscale=_autoscale(reader, spec.get("autoscale"), template.resources),
        constraints=_constraints(reader, spec.get("constraints", {})),
        annotations=annotations,
    )
    if reader.problems:
        raise InvalidSpec(reader.problems)
    return deployment


# DNS-1123 label (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# IANA service name, as Kubernetes requires of container port names: at most 15 characters,
# lowercase letters, digits and single hyphens, at least one letter, no hyphen at either end.
_PORT_NAME = re.compile(r"(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?")


def _name(reader: Reader, metadata: Mapping[str, object]) -> str:
    name = metadata.get("name")
    if name is None:
        reader.problem("metadata.name", "is required; write e.g. metadata: {name: web}")
        return ""
    if not isinstance(name, str) or not _DNS_LABEL.fullmatch(name):
        fixed = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:63].strip("-")
        reader.problem(
            "metadata.name",
            f"{name!r} is not a DNS label (at most 63 lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit); write e.g. {fixed or 'web'!r}",
        )
        return ""
    return name


def _image(reader: Reader, image: object) -> str:
    if image is None:
        reader.problem("spec.image", "is required; write e.g. image: 127.0.0.1:5000/web:v1")
        return ""
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        reader.problem(
            "spec.image",
            f"{image!r} is not an image reference; write e.g. image: 127.0.0.1:5000/web:v1",
        )
        return ""
    return image


def _resources(reader: Reader, value: object) -> Resources:
    fields = reader.fields(value, "spec.resources", {"cpu", "memory"})
    amounts = {"cpu": 0, "memory": 0}
    for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        if key in fields:
            try:
                amounts[key] = parse(fields[key])
            except QuantityError as error:
                reader.problem(f"spec.resources.{key}", str(error))
    return Resources(cpu_millis=amounts["cpu"], memory_mib=amounts["memory"])


def _ports(reader: Reader, value: object) -> tuple[Port, ...]:
    ports: list[Port] = []
    for index, item in enumerate(reader.sequence(value, "spec.ports", "[{name: http}]")):
        path = f"spec.ports[{index}].name"
        name = reader.fields(item, f"spec.ports[{index}]", {"name"}).get("name")
        if not isinstance(name, str) or not _PORT_NAME.fullmatch(name):
            reader.problem(
                path,
                f"{name!r} is not a port name (1-15 lowercase letters, digits and single '-', "
                "with at least one letter); write e.g. name: http",
            )
        elif Port(name) in ports:
            reader.problem(path, f"{name!r} is used twice; give each port its own name")
        else:
            ports.append(Port(name))
    return tuple(ports)


def _constraints(reader: Reader, value: object) -> Constraints:
    constraints = reader.fields(value, "spec.constraints", {"nodeSelector"})
    selector = constraints.get("nodeSelector", {})
    return Constraints(reader.string_map(selector, "spec.constraints.nodeSelector"))


def _strategy(reader: Reader, value: object) -> Strategy:
    strategy = reader.fields(value, "spec.strategy", {"maxSurge", "maxUnavailable"})
    surge = reader.int_or_percent(strategy, "maxSurge", "spec.strategy", limit_100=False)
    unavailable = reader.int_or_percent(strategy, "maxUnavailable", "spec.strategy", limit_100=True)
    if surge in (0, Percent(0)) and unavailable in (0, Percent(0)):
        reader.problem(
            "spec.strategy",
            "maxSurge and maxUnavailable are both 0, so no replica could ever be replaced; "
            "write maxSurge: 1 (start a new replica before stopping an old one) "
            "or maxUnavailable: 1 (stop one first)",
        )
    return Strategy(max_surge=surge, max_unavailable=unavailable)


def _autoscale(reader: Reader, value: object, resources: Resources) -> Autoscale | None:
    if value is None:
        return None
    path = "spec.autoscale"
    fields = reader.fields(value, path, {"minReplicas", "maxReplicas", "targetCPUUtilization"})
    low = reader.integer(fields, "minReplicas", path, default=1, minimum=1)
    high = reader.integer(fields, "maxReplicas", path, default=None, minimum=1)
    target = reader.integer(fields, "targetCPUUtilization", path, default=80, minimum=1)
    if high < low:
        reader.problem(
            f"{path}.maxReplicas",
            f"is {high}, below minReplicas ({low}); write maxReplicas: {low} or more",
        )
    if resources.cpu_millis == 0 and not reader.has_problem("spec.resources.cpu"):
        reader.problem(
            "spec.resources.cpu",
            "is needed by autoscale, which measures CPU use as a percentage of it; "
            "write e.g. resources: {cpu: 100m}",
        )
    return Autoscale(max_replicas=high, min_replicas=low, target_cpu_utilization=target)
