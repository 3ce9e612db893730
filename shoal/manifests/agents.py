"""The Triggers of node agents on fleet machines, as a kustomize folder of their own.

An agent outside the cluster is reached by the Broker through a Trigger whose subscriber is the
agent's URL (`shoal.agent.render_agent_trigger`), and it posts its events to the Broker's
ingress URL. `shoal manifests --agent NAME=URL` writes one `agent-<name>.yaml` per agent and a
`kustomization.yaml` listing them into `manifests/agents/`, which both overlays include; the
agents are given in full each time, so an agent left out loses its Trigger. The folder is apart
from the base because the fleet is not in the code: `shoal manifests --check` without
`--agent` leaves it alone.

The Triggers carry no namespace, like the base: the overlay puts everything in one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shoal.agent import render_agent_trigger
from shoal.manifests.render import GENERATED_MARK, to_yaml
from shoal.manifests.resources import Document, Target

HEADER = (
    f"{GENERATED_MARK} (--agent): do not edit. Run `shoal manifests --agent NAME=URL ...`\n"
    "# again, naming every agent of the fleet.\n"
)
# A DNS-1123 label: Knative names the Trigger `agent-<name>`.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,55}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    """An agent (`shoal agent --name NAME`) and the URL the Broker delivers to."""

    name: str
    url: str


def parse_agent(text: str) -> AgentEndpoint:
    """`NAME=URL`, as `--agent` takes it; ValueError says what is wrong."""
    name, sep, url = text.partition("=")
    if not sep:
        raise ValueError(f"expected NAME=URL, got {text!r}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"agent name {name!r}: use the agent's --name, a DNS label (lowercase letters, digits "
            "and '-', at most 57 characters)"
        )
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"agent {name}: URL {url!r} must be http:// or https://, the address the Broker's "
            "dispatcher reaches the agent at (its --advertise-url)"
        )
    return AgentEndpoint(name, url)


def render_agents(agents: Sequence[AgentEndpoint], target: Target) -> dict[str, str]:
    """The agents folder's files: file name -> YAML text."""
    names = [agent.name for agent in agents]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"--agent {', '.join(twice)} given more than once")
    files: dict[str, str] = {}
    for agent in sorted(agents, key=lambda a: a.name):
        trigger = render_agent_trigger(agent.name, agent.url, broker=target.broker)
        metadata = trigger["metadata"]
        assert isinstance(metadata, dict)
        del metadata["namespace"]
        files[f"agent-{agent.name}.yaml"] = to_yaml([trigger], HEADER)
    kustomization: Document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = to_yaml([kustomization], HEADER)
    return dict(sorted(files.items()))
