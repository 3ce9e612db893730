"""Picked ports stay out of the kernel's ephemeral range, are free, and do not repeat."""

from __future__ import annotations

import random
import socket
from collections import deque
from pathlib import Path

import pytest

from shoal.orchestration.scoring import DEFAULT_PORT_RANGE
from shoal.platform import ports
from shoal.platform.ports import DYNAMIC_PORTS, ephemeral_range, free_port, outside


def test_the_ephemeral_range_is_read_from_the_kernel(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("32768\t60999\n")

    assert ephemeral_range(source) == (32768, 60999)


@pytest.mark.parametrize("text", [None, "", "32768", "low high"])
def test_an_unknown_range_means_rfc_6335s_dynamic_ports(tmp_path: Path, text: str | None) -> None:
    source = tmp_path / "ip_local_port_range"
    if text is not None:
        source.write_text(text)

    assert ephemeral_range(source) == DYNAMIC_PORTS == (49152, 65535)


@pytest.mark.parametrize(
    ("ephemeral", "expected"),
    [
        ((32768, 60999), [range(10_000, 30000), range(61000, 65536)]),
        ((49152, 65535), [range(10_000, 30000), range(32768, 49152)]),
        ((1024, 65535), []),  # the whole range is ephemeral: nothing is safe
        ((5000, 20000), [range(20001, 30000), range(32768, 65536)]),
    ],
)
def test_candidates_lie_outside_the_ephemeral_range(
    ephemeral: tuple[int, int], expected: list[range]
) -> None:
    assert outside(ephemeral) == expected


def test_a_free_port_is_outside_the_ephemeral_range_and_the_replicas_and_bindable() -> None:
    low, high = ephemeral_range()
    for _ in range(20):
        port = free_port()
        assert not low <= port <= high
        assert port not in DEFAULT_PORT_RANGE
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = int(listener.getsockname()[1])
        # Only two candidates: the taken one and the next.
        monkeypatch.setattr(ports, "outside", lambda _: [range(taken, taken + 2)])
        monkeypatch.setattr(ports, "_recent", deque(maxlen=256))

        picked = {free_port(random.Random(seed)) for seed in range(10)}

    low, high = ephemeral_range()
    assert taken not in picked
    assert picked <= {taken + 1, *range(low, high + 1)}  # the next, or the kernel's fallback


def test_a_burst_of_picks_never_repeats_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "outside", lambda _: [range(20_000, 20_008)])
    monkeypatch.setattr(ports, "_recent", deque(maxlen=256))

    picked = [free_port(random.Random(7)) for _ in range(8)]

    assert sorted(picked) == list(range(20_000, 20_008))
