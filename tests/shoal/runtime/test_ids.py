"""Emitted event ids: uuid5 of the function, the input event and the position, forever."""

from __future__ import annotations

import uuid

import pytest

from shoal.runtime.ids import EMITTED_EVENT_NAMESPACE, emitted_event_id


def test_an_id_never_changes() -> None:
    # Recorded outboxes and the broker's deduplication depend on it: never change this value.
    assert (
        emitted_event_id("echo", "/tests", "event-1", 0) == "2e609cbd-2152-5374-bfa2-46d08d63de9f"
    )


@pytest.mark.parametrize(
    ("function", "source", "event_id", "index"),
    [
        ("scheduler", "/shoal/deployments", "0f8f7c2e-1", 0),
        ("scheduler", "/shoal/deployments", "0f8f7c2e-1", 499),
        ("nodes", "/shoal/agents/nöde-ünïcode", " id with spaces ✓", 7),
        ("a", "", "", 0),
    ],
)
def test_ids_are_the_uuid5_of_the_joined_name(
    function: str, source: str, event_id: str, index: int
) -> None:
    name = "\0".join((function, source, event_id, str(index)))

    assert emitted_event_id(function, source, event_id, index) == str(
        uuid.uuid5(EMITTED_EVENT_NAMESPACE, name)
    )


@pytest.mark.parametrize(("source", "event_id"), [("/s", "a\0b"), ("/s\0a", "b")])
def test_a_nul_that_would_make_two_events_emit_one_id_is_refused(
    source: str, event_id: str
) -> None:
    # Joined with NUL, both would name "fn\0/s\0a\0b\00"; the runtime answers 400 before this.
    with pytest.raises(ValueError, match="holds NUL"):
        emitted_event_id("fn", source, event_id, 0)
