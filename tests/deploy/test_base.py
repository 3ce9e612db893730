"""What `shoal manifests` adds to the base for Knative: the shared settings, and the mark that
keeps a function's own dead-letter sink through the production overlay."""

from __future__ import annotations

from pathlib import Path

from functions.nodes import (
    INTERVAL_VARIABLE,
    MISSED_VARIABLE,
    ON_HEARTBEAT_VARIABLE,
    NodesSettings,
)
from functions.scheduler import STRATEGY_VARIABLE, SchedulerSettings
from shoal.manifests.kustomize import SHARED_SETTINGS
from shoal.manifests.render import render
from shoal.manifests.resources import DEAD_LETTER_LABEL, Target
from shoal.runtime.discovery import discover

from .conftest import ROOT, kustomize, manifests_copy

SAMPLES = ROOT / "tests" / "shoal" / "runtime" / "samples"


def test_the_shared_settings_are_the_variables_the_functions_read_at_their_defaults() -> None:
    variables = {INTERVAL_VARIABLE, MISSED_VARIABLE, ON_HEARTBEAT_VARIABLE, STRATEGY_VARIABLE}
    assert set(SHARED_SETTINGS) == variables
    # the one setting Knative changes: its PingSources tick once a minute
    assert NodesSettings.from_environ(SHARED_SETTINGS) == NodesSettings(check_on_heartbeat=True)
    assert SchedulerSettings.from_environ(SHARED_SETTINGS) == SchedulerSettings()


def test_a_function_s_own_dead_letter_sink_survives_the_production_overlay(
    kubectl: str, tmp_path: Path
) -> None:
    base = render(discover(SAMPLES), ROOT, Target(image="registry.example/shoal:test"))
    manifests = manifests_copy(tmp_path, base=base)

    objects = kustomize(kubectl, manifests / "overlays" / "production")
    triggers = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Trigger"}
    sinks = {
        name: t["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] for name, t in triggers.items()
    }
    marked = {n for n, t in triggers.items() if DEAD_LETTER_LABEL in t["metadata"]["labels"]}

    assert marked == {"refuse"}
    assert sinks == {
        "broken": "shoal-dead-letters",
        "echo": "shoal-dead-letters",
        "refuse": "dead-letters",
        "ticking-every-second": "shoal-dead-letters",
        "ticking-tests": "shoal-dead-letters",
    }
