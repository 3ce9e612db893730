"""Without a Docker engine the tests that need one skip, except under CI, where they fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docker_engine import require_engine


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_engine_fails_under_ci_and_skips_elsewhere(
    ci: str, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match=r"run scripts/docker-engine\.sh"):
        require_engine()
