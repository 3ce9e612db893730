"""Every case of the CESQL Technology Compatibility Kit, each as its own test.

The TCK lives beside the repository in `../shared/conformance/cesql-tck/` (cloudevents/spec,
cesql/cesql_tck); see local_broker.cesql.tck for the format and how a case is judged.
"""

from __future__ import annotations

import pytest

from local_broker.cesql.tck import TckCase, check_case, load_cases
from tests.conformance import CESQL_TCK, require_cesql_tck

TCK_DIRECTORY = CESQL_TCK
TCK_FILES = sorted(TCK_DIRECTORY.glob("*.yaml"))
CASES = [
    case for path in TCK_FILES for case in load_cases(path.read_text(encoding="utf-8"), path.name)
]


def test_every_tck_file_has_cases() -> None:
    require_cesql_tck()
    suites = {case.suite for case in CASES}
    assert TCK_FILES
    assert suites == {path.name for path in TCK_FILES}


def test_case_ids_are_unique() -> None:
    ids = [case.case_id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_tck_case(case: TckCase) -> None:
    assert check_case(case) is None
