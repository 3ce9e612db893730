"""A function process's settings from its environment."""

from __future__ import annotations

from pathlib import Path

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
