"""Which event type a filter implies (`Filter.required_value`), table-tested."""

from __future__ import annotations

from typing import Any

import pytest

from local_broker.filters import compile_filter


@pytest.mark.parametrize(
    ("attributes", "filters", "implied"),
    [
        ({"type": "a"}, None, "a"),
        ({"type": "a", "source": "/s"}, None, "a"),
        ({"type": ""}, None, None),  # "present and non-empty" implies no value
        ({"source": "/s"}, None, None),
        (None, None, None),
        (None, [{"exact": {"type": "a"}}], "a"),
        (None, [{"prefix": {"type": "a"}}], None),
        (None, [{"all": [{"suffix": {"id": "1"}}, {"exact": {"type": "a"}}]}], "a"),
        (None, [{"exact": {"source": "/s"}}, {"exact": {"type": "a"}}], "a"),
        (None, [{"any": [{"exact": {"type": "a"}}, {"exact": {"type": "b"}}]}], None),
        (None, [{"not": {"exact": {"type": "a"}}}], None),
        (None, [{"cesql": "type = 'a'"}], None),
        ({"type": "a"}, [{"exact": {"type": "b"}}], "b"),  # non-empty `filters` wins
    ],
)
def test_required_type(attributes: Any, filters: Any, implied: str | None) -> None:
    assert compile_filter(attributes, filters).required_value("type") == implied
