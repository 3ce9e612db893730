"""A host port another process listens on is found, on any address; a free one is not."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from shoal.agent.errors import DriverError
from shoal.agent.hostports import require_free, taken
from shoal.platform.ports import free_port


@contextmanager
def listening(host: str) -> Iterator[int]:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_listener_on_any_address_holds_the_port(host: str) -> None:
    free = free_port()
    with listening(host) as held:
        assert taken([free, held]) == [held]
        with pytest.raises(DriverError) as refused:
            require_free("web-1", [free, held])
    assert str(refused.value) == (
        f"host port {held} of web-1 is taken by a process outside Shoal on this node: stop "
        "it, or narrow the node's port range"
    )


def test_free_ports_pass() -> None:
    require_free("web-1", [free_port(), free_port()])
    require_free("web-1", [])
