"""Where the conformance data shared beside the repository lives (`../shared/conformance/`).

CI has it there; a checkout without it skips the tests that read it, except under CI
(`CI=true`), where a missing copy fails them: a green CI run must have run the TCK.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CESQL_TCK = Path(__file__).resolve().parents[1].parent / "shared/conformance/cesql-tck"


def require_cesql_tck() -> Path:
    """The CESQL TCK folder, or a skip (a failure under CI) naming where it was looked for."""
    if CESQL_TCK.is_dir():
        return CESQL_TCK
    message = f"CESQL TCK not found at {CESQL_TCK} (the repository's ../shared/ holds it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
