"""`shoal apply --wait` and `shoal rollout status` against `shoal up --driver exec`: the CLI
returns once the new revision has rolled out, and fails when it cannot."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shoal.platform.harness import RunningPlatform, running_platform
from tests.e2e.conftest import shoal_command
from tests.e2e.test_orchestration import deployment

SERVE = ["sh", "-c", "exec sleep 300"]
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def shoal(platform: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SHOAL_API_URL": platform.api_url(),
        "SHOAL_BROKER_URL": platform.ingress,
        "SHOAL_CONFIG": "/nonexistent",
    }
    return subprocess.run(
        shoal_command(*args), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_apply_wait_returns_once_the_new_revision_rolled_out(
    exec_platform: RunningPlatform, tmp_path: Path
) -> None:
    platform = exec_platform
    first = tmp_path / "v1.yaml"
    first.write_text(yaml.safe_dump(deployment("web", 2, "local/web:v1", command=SERVE)))
    second = tmp_path / "v2.yaml"
    second.write_text(yaml.safe_dump(deployment("web", 2, "local/web:v2", command=SERVE)))

    applied = shoal(platform, "apply", "-f", str(first), "--wait")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[0] == "deployment/web applied"
    assert applied.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'

    applied = shoal(platform, "apply", "-f", str(second), "--wait")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'
    replicas = shoal(platform, "get", "replicas", "-o", "json")
    revisions = {item["revision"] for item in yaml.safe_load(replicas.stdout)["items"]}
    assert len(revisions) == 1  # every replica on the revision v2 hashes to

    status = shoal(platform, "rollout", "status", "deployment", "web")
    assert (status.returncode, status.stdout) == (0, 'deployment "web" successfully rolled out\n')


def test_a_rollout_that_cannot_finish_times_out_saying_why(
    exec_platform: RunningPlatform, tmp_path: Path
) -> None:
    platform = exec_platform
    crashing = tmp_path / "crash.yaml"
    crashing.write_text(
        yaml.safe_dump(deployment("crash", 1, "local/crash:v1", command=["sh", "-c", "exit 3"]))
    )

    applied = shoal(platform, "apply", "-f", str(crashing), "--wait", "--timeout", "5")

    assert applied.returncode == 1
    assert applied.stderr == "shoal apply: timed out after 5 s waiting for deployment 'crash'\n"
    assert re.search(r"^  replica crash-\S+ exited: exited with code 3$", applied.stdout, re.M), (
        applied.stdout
    )


def test_a_node_selector_matches_the_labels_of_shoal_up_s_nodes_or_the_wait_says_why_not(
    tmp_path: Path,
) -> None:
    def zoned(name: str, zone: str) -> Path:
        document = deployment(
            name, 2, f"local/{name}:v1", command=SERVE, constraints={"nodeSelector": {"zone": zone}}
        )
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        return path

    up_args = ["--driver", "exec", "--labels", "zone=a"]
    with running_platform(tmp_path / "data", root=ROOT, up_args=up_args) as platform:
        applied = shoal(platform, "apply", "-f", str(zoned("in-a", "a")), "--wait")
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.splitlines()[-1] == 'deployment "in-a" successfully rolled out'

        applied = shoal(
            platform, "apply", "-f", str(zoned("in-b", "b")), "--wait", "--timeout", "5"
        )

    assert applied.returncode == 1
    reasons = [line for line in applied.stdout.splitlines() if line.startswith("  replica ")]
    assert len(reasons) == 1, applied.stdout  # said once, not at every poll
    assert re.fullmatch(
        r"  replica in-b-\S+( \(and 1 more\))? unschedulable: 0/1 nodes are available: "
        r"1 node\(s\) didn't match nodeSelector\.",
        reasons[0],
    )
