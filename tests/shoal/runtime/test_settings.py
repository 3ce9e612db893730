"""A function process's settings from its environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.platform.plan import ServiceProcess
from shoal.runtime.settings import RuntimeSettings


def test_the_state_url_and_sink_come_from_the_environment() -> None:
    settings = RuntimeSettings.from_environ(
        {"SHOAL_STATE_URL": "postgresql://db/shoal", "K_SINK": "http://broker/ns/default"}
    )

    assert settings == RuntimeSettings("postgresql://db/shoal", "http://broker/ns/default")


def test_without_a_url_the_state_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = RuntimeSettings.from_environ({"SHOAL_DATA_DIR": str(tmp_path / "data")})

    assert settings.state_url == f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    assert settings.data_dir == tmp_path / "data"
    assert settings.sink is None


def test_the_default_data_dir_is_dot_shoal() -> None:
    settings = RuntimeSettings.from_environ({"K_SINK": ""})

    assert settings.state_url == f"sqlite:///{Path('.shoal/state.db').resolve()}"
    assert settings.sink is None


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_sink_batch_is_a_yes_no_setting(value: str, expected: bool) -> None:
    settings = RuntimeSettings.from_environ({"SHOAL_SINK_BATCH": value, "SHOAL_STATE_URL": "x"})

    assert settings.sink_batch is expected


def test_sink_batch_is_off_by_default_because_knative_ingress_takes_no_batches() -> None:
    assert RuntimeSettings.from_environ({}).sink_batch is False


def test_a_sink_batch_value_that_means_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="SHOAL_SINK_BATCH='maybe' is not a yes/no setting"):
        RuntimeSettings.from_environ({"SHOAL_SINK_BATCH": "maybe"})


def test_shoal_up_turns_batches_on_for_the_local_broker() -> None:
    service = ServiceProcess("scheduler", ("functions-framework",), {"FUNCTION_TARGET": "s"})

    environment = service.environment(8123, "http://127.0.0.1:8080/default/default")

    assert RuntimeSettings.from_environ(environment).sink_batch is True
