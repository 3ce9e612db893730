"""The `shoal` command itself: its version, and what it says without a subcommand."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

from shoal.cli.main import main

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_is_the_installed_distribution_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert importlib.metadata.version("shoal") == declared
    assert capsys.readouterr().out == f"shoal {declared}\n"


def test_no_subcommand_is_a_usage_error_listing_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: COMMAND" in err
