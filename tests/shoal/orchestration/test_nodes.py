from __future__ import annotations

import pytest

from shoal.orchestration.nodes import (
    Liveness,
    judged_at,
    lost_nodes,
    lost_replicas,
    silent_nodes,
    stale_replicas,
)

HEARTBEATS = {"a": 100.0, "b": 97.0, "c": 96.9, "d": 50.0, "e": 101.0}


@pytest.mark.parametrize(
    ("heartbeats", "now", "liveness", "lost"),
    [
        ({}, 100.0, Liveness(), ()),
        # default: 1 s heartbeats, lost after 3 missed, i.e. more than 3 s of silence
        (HEARTBEATS, 100.0, Liveness(), ("c", "d")),
        ({"a": 100.0}, 103.0, Liveness(), ()),  # exactly 3 s: the third may be in flight
        ({"a": 100.0}, 103.001, Liveness(), ("a",)),
        ({"a": 100.0}, 100.0, Liveness(), ()),
        ({"a": 105.0}, 100.0, Liveness(), ()),  # a clock ahead of ours counts as fresh
        (HEARTBEATS, 200.0, Liveness(), ("a", "b", "c", "d", "e")),  # sorted by name
        # other intervals and grace
        ({"a": 100.0}, 105.0, Liveness(heartbeat_interval=2.0), ()),
        ({"a": 100.0}, 106.5, Liveness(heartbeat_interval=2.0), ("a",)),
        ({"a": 100.0}, 101.5, Liveness(missed_heartbeats=1), ("a",)),
        ({"a": 100.0}, 109.0, Liveness(heartbeat_interval=0.5, missed_heartbeats=20), ()),
        ({"a": 100.0}, 111.0, Liveness(heartbeat_interval=0.5, missed_heartbeats=20), ("a",)),
        ({"a": 0.0, "b": 1e9}, 1e9 + 1, Liveness(), ("a",)),
    ],
)
def test_lost_nodes(
    heartbeats: dict[str, float], now: float, liveness: Liveness, lost: tuple[str, ...]
) -> None:
    assert lost_nodes(heartbeats, now, liveness) == lost


@pytest.mark.parametrize(
    ("heartbeats", "liveness", "silent"),
    [
        ({}, Liveness(), ()),
        ({"a": 0.0}, Liveness(), ()),  # one node: nothing to tell its silence from a stall
        ({"a": 50.0, "b": 50.0, "c": 50.0}, Liveness(), ()),  # all silent together: nobody
        ({"a": 100.0, "b": 97.0}, Liveness(), ()),  # exactly the grace behind
        ({"a": 100.0, "b": 96.999}, Liveness(), ("b",)),
        # two of three stopped: the median rule loses neither, but both are silent
        ({"a": 100.0, "b": 90.0, "c": 80.0}, Liveness(), ("b", "c")),
        (HEARTBEATS, Liveness(), ("b", "c", "d")),  # behind e (101), not a clock
        (HEARTBEATS, Liveness(heartbeat_interval=2.0), ("d",)),
        (HEARTBEATS, Liveness(missed_heartbeats=1), ("b", "c", "d")),  # a: exactly 1 s behind
    ],
)
def test_silent_nodes(
    heartbeats: dict[str, float], liveness: Liveness, silent: tuple[str, ...]
) -> None:
    assert silent_nodes(heartbeats, liveness) == silent


@pytest.mark.parametrize(
    ("replica_nodes", "lost", "expected"),
    [
        ({}, {"a"}, ()),
        ({"web-1": "a", "web-2": "b", "api-1": "a"}, set(), ()),
        ({"web-1": "a", "web-2": "b", "api-1": "a"}, {"a"}, ("api-1", "web-1")),
        ({"web-1": "a", "web-2": "b", "api-1": "a"}, {"a", "b"}, ("api-1", "web-1", "web-2")),
        ({"web-1": "a"}, {"z"}, ()),
        ({"web-1": "a", "web-2": "b"}, ("b",), ("web-2",)),
    ],
)
def test_lost_replicas(
    replica_nodes: dict[str, str], lost: set[str] | tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert lost_replicas(replica_nodes, lost) == expected


def test_lost_nodes_feed_lost_replicas() -> None:
    lost = lost_nodes({"a": 0.0, "b": 9.0}, 10.0)
    assert lost_replicas({"web-1": "a", "web-2": "b"}, lost) == ("web-1",)


@pytest.mark.parametrize(("interval", "missed"), [(0.0, 3), (-1.0, 3), (1.0, 0), (1.0, -2)])
def test_liveness_rejects_settings_that_would_lose_every_node(interval: float, missed: int) -> None:
    with pytest.raises(ValueError, match="heartbeat_interval must be above 0"):
        Liveness(heartbeat_interval=interval, missed_heartbeats=missed)


def test_grace_seconds() -> None:
    assert Liveness().grace_seconds == 3.0
    assert Liveness(heartbeat_interval=2.5, missed_heartbeats=4).grace_seconds == 10.0


@pytest.mark.parametrize(
    ("reported", "placed", "stale"),
    [
        ((), {"r1": "n1"}, ()),
        (("r1", "r2"), {"r1": "n1", "r2": "n1"}, ()),
        # lost, stopped or deleted while the node was away: no longer placed anywhere
        (("r1", "r2"), {"r1": "n1"}, ("r2",)),
        # replaced by a replica of the same name placed elsewhere
        (("r2", "r1"), {"r1": "n2", "r2": "n1"}, ("r1",)),
        (("r3", "r1", "r3"), {}, ("r1", "r3")),  # sorted, once each
    ],
)
def test_stale_replicas(
    reported: tuple[str, ...], placed: dict[str, str], stale: tuple[str, ...]
) -> None:
    assert stale_replicas("n1", reported, placed) == stale


@pytest.mark.parametrize(
    ("heartbeats", "now", "liveness", "judged"),
    [
        ({}, 100.0, Liveness(), 100.0),
        ({"a": 99.5, "b": 99.0, "c": 98.2}, 100.0, Liveness(), 100.0),  # heartbeats flow
        # a backlog (or a busy store): an interval after the median node's last heartbeat
        ({"a": 90.0, "b": 89.2, "c": 80.0}, 100.0, Liveness(), 90.2),
        ({"a": 90.0, "b": 89.2}, 100.0, Liveness(), 91.0),  # the higher of an even count
        ({"a": 90.0}, 100.0, Liveness(heartbeat_interval=2.0), 92.0),
        # one heartbeat far ahead of the others does not move it
        ({"a": 99.9, "b": 95.0, "c": 95.1}, 100.0, Liveness(), 96.1),
        ({"a": 105.0}, 100.0, Liveness(), 100.0),  # a broker clock ahead of ours: never after now
    ],
)
def test_judged_at(
    heartbeats: dict[str, float], now: float, liveness: Liveness, judged: float
) -> None:
    assert judged_at(heartbeats, now, liveness) == pytest.approx(judged)


@pytest.mark.parametrize(
    ("heartbeats", "lost"),
    [
        # n1, n2 beat every second until about 90; later heartbeats are still on the way at 100
        ({"n1": 90.0, "n2": 89.4, "dead": 86.5}, ("dead",)),
        # the heartbeats of some nodes got ahead of the others' by up to two seconds
        ({"n1": 92.0, "n2": 90.1, "n3": 90.0, "n4": 90.3, "dead": 86.9}, ("dead",)),
        ({"a": 90.0, "b": 89.1}, ()),  # two nodes silent together: the judge suspects itself
        ({"only": 90.0}, ()),
    ],
)
def test_a_backlog_delays_the_verdict_instead_of_losing_live_nodes(
    heartbeats: dict[str, float], lost: tuple[str, ...]
) -> None:
    assert lost_nodes(heartbeats, judged_at(heartbeats, 100.0)) == lost
    assert set(lost_nodes(heartbeats, 100.0)) == set(heartbeats)  # at `now`: every one
