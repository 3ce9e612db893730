"""The API function's fixed port: `shoal up` takes it when it is free, refuses it when taken."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.cli.main import main
from shoal.platform.plan import PlanError, port_or_free

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_free_port_is_kept_and_zero_means_any_free_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])

    assert port_or_free(port, "the API") == port
    assert port_or_free(0, "the API") > 0


def test_a_port_something_listens_on_is_refused(taken_port: int) -> None:
    with pytest.raises(PlanError, match=f"cannot use port {taken_port} for the API: "):
        port_or_free(taken_port, "the API")


def test_up_refuses_to_start_when_the_api_port_is_taken(
    taken_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)
    args = ["up", "--data-dir", str(tmp_path), "--port", "0", "--api-port", str(taken_port)]

    assert main(args) == 1

    assert capsys.readouterr().err == (
        f"shoal up: cannot use port {taken_port} for the API function (--api-port): "
        "Address already in use\n"
    )
