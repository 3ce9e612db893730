"""Where the CLI talks: option > environment > context > the local platform, the config file
and its contexts (`shoal config`), and `shoal send` / `shoal events` following the same rules
to a real broker."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shoal.cli.configfile import config_path, load_config
from shoal.cli.endpoints import (
    API,
    BROKER,
    LOCAL_API_URL,
    LOCAL_BROKER_URL,
    pointing_hint,
    resolve,
)
from shoal.cli.errors import ConfigError
from shoal.cli.main import main

from .cli_servers import logged_events, running_broker

PROD = {"broker": "http://prod-broker/shoal/default", "api": "https://api.prod.example"}
STAGING = {"broker": "http://staging-broker/shoal/default"}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    document = {"current-context": "prod", "contexts": {"prod": PROD, "staging": STAGING}}
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The process environment as a user without any settings has it; returns the config path
    the CLI will use (not created)."""
    for name in ("SHOAL_BROKER_URL", "SHOAL_API_URL", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "home" / "shoal.yaml"
    monkeypatch.setenv("SHOAL_CONFIG", str(path))
    return path


@pytest.mark.parametrize(
    ("option", "env", "context", "expected"),
    [
        ("http://opt:1/x", "http://env:2/x", "staging", ("http://opt:1/x", "--broker")),
        (None, "http://env:2/x", "staging", ("http://env:2/x", "$SHOAL_BROKER_URL")),
        (None, None, "staging", (STAGING["broker"], "context 'staging' in ")),
        (None, None, None, (PROD["broker"], "context 'prod' in ")),
    ],
)
def test_the_broker_url_comes_from_the_first_that_names_it(
    config_file: Path,
    option: str | None,
    env: str | None,
    context: str | None,
    expected: tuple[str, str],
) -> None:
    environ = {"SHOAL_CONFIG": str(config_file)}
    if env is not None:
        environ["SHOAL_BROKER_URL"] = env

    endpoint = resolve(BROKER, option, context, environ)

    assert endpoint.url == expected[0]
    assert endpoint.origin.startswith(expected[1])


def test_without_a_config_file_the_local_platform_is_the_default(tmp_path: Path) -> None:
    environ = {"SHOAL_CONFIG": str(tmp_path / "missing.yaml")}

    assert resolve(BROKER, None, None, environ).url == LOCAL_BROKER_URL
    assert resolve(API, None, None, environ).url == LOCAL_API_URL == "http://127.0.0.1:8081"


def test_a_file_without_current_context_also_means_the_local_platform(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"contexts": {"prod": PROD}}))
    environ = {"SHOAL_CONFIG": str(path)}

    assert resolve(API, None, None, environ).url == LOCAL_API_URL
    assert resolve(API, None, "prod", environ).url == PROD["api"]


def test_a_context_without_the_url_is_an_error_not_the_local_platform(config_file: Path) -> None:
    environ = {"SHOAL_CONFIG": str(config_file)}

    with pytest.raises(ConfigError, match="has no api URL: add one with `shoal config set-context"):
        resolve(API, None, "staging", environ)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("contexts: {prod: {brokr: http://b/}}", "unknown key\\(s\\) brokr; known: broker, api"),
        ("contexts: {prod: {api: ftp://x}}", "'ftp://x' is not an http\\(s\\) URL"),
        ("current-context: [a]", "current-context must be a context name"),
        ("contexts: [prod]", "contexts must be a mapping"),
        ("current-context: nope\ncontexts: {}", "no context 'nope' in .* \\(contexts: none\\)"),
        ("contexts: {a: b", "is not valid YAML"),
        ("colour: blue", "unknown key\\(s\\) colour"),
    ],
)
def test_a_broken_config_file_is_reported_with_its_path(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message) as raised:
        resolve(API, None, None, {"SHOAL_CONFIG": str(path)})
    assert str(path) in str(raised.value)


def test_options_and_environment_never_read_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("not: [valid")
    environ = {"SHOAL_CONFIG": str(path), "SHOAL_API_URL": "http://env:1"}

    assert resolve(API, None, None, environ).url == "http://env:1"
    assert resolve(BROKER, "http://opt:1/b", None, environ).url == "http://opt:1/b"


def test_urls_from_options_and_environment_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("--api '127.0.0.1:8081' is not an http")):
        resolve(API, "127.0.0.1:8081", None, {})
    with pytest.raises(ConfigError, match=re.escape("$SHOAL_BROKER_URL 'x' is not an http")):
        resolve(BROKER, None, None, {"SHOAL_BROKER_URL": "x"})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SHOAL_CONFIG": "/etc/shoal.yaml", "XDG_CONFIG_HOME": "/x"}, "/etc/shoal.yaml"),
        ({"XDG_CONFIG_HOME": "/x", "HOME": "/home/me"}, "/x/shoal/config.yaml"),
        ({"HOME": "/home/me"}, "/home/me/.config/shoal/config.yaml"),
    ],
)
def test_where_the_config_file_is(environ: dict[str, str], expected: str) -> None:
    assert config_path(environ) == Path(expected)


def test_shoal_config_manages_contexts_like_kubectl_config(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "current-context"]) == 1
    assert "no current context" in capsys.readouterr().err

    assert main(["config", "set-context", "prod", "--broker", PROD["broker"]]) == 0
    assert main(["config", "set-context", "prod", "--api", PROD["api"], "--use"]) == 0
    assert main(["config", "set-context", "staging", "--broker", STAGING["broker"]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "context 'prod' created",
        "context 'prod' modified",
        "context 'staging' created",
    ]
    assert yaml.safe_load(environment.read_text()) == {
        "current-context": "prod",
        "contexts": {"prod": PROD, "staging": STAGING},
    }

    assert main(["config", "get-contexts"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "CURRENT   NAME      BROKER                                API",
        "*         prod      http://prod-broker/shoal/default      https://api.prod.example",
        "          staging   http://staging-broker/shoal/default",
    ]
    assert main(["config", "use-context", "staging"]) == 0
    assert main(["config", "current-context"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "staging"

    assert main(["config", "use-context", "nope"]) == 1
    assert "no context 'nope'" in capsys.readouterr().err
    assert main(["config", "delete-context", "staging"]) == 0
    assert load_config(environment).current_context is None
    assert main(["config", "view"]) == 0
    assert f"# {environment}" in capsys.readouterr().out


def test_set_context_refuses_a_url_that_is_not_http(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "set-context", "prod", "--api", "api.prod.example"]) == 1
    assert "--api 'api.prod.example' is not an http(s) URL" in capsys.readouterr().err
    assert not environment.exists()


def test_shoal_config_endpoints_says_where_each_url_comes_from(
    environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "endpoints"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"broker  {LOCAL_BROKER_URL} (from `shoal up`'s default)",
        f"api     {LOCAL_API_URL} (from `shoal up`'s default)",
    ]

    assert main(["config", "set-context", "prod", "--broker", PROD["broker"], "--use"]) == 0
    capsys.readouterr()
    assert main(["config", "endpoints"]) == 1
    assert "context 'prod'" in capsys.readouterr().err  # it has no API: an error, not local
    monkeypatch.setenv("SHOAL_API_URL", "http://127.0.0.1:9999")
    assert main(["config", "endpoints", "--broker", "http://127.0.0.1:1/x"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "broker  http://127.0.0.1:1/x (from --broker)",
        "api     http://127.0.0.1:9999 (from $SHOAL_API_URL)",
    ]


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    with running_broker(tmp_path) as url:
        yield url


def test_send_and_events_follow_the_current_context(
    environment: Path, broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "set-context", "dev", "--broker", broker_url, "--use"]) == 0
    send = ["send", "--type", "dev.shoal.test", "--source", "/me", "--id", "e-1"]

    assert main(send) == 0
    assert main(["events", "-o", "json"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1])["event"]["id"] == "e-1"
    assert [event["id"] for event in logged_events(broker_url)] == ["e-1"]


def test_the_environment_overrides_the_context(
    environment: Path,
    broker_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "set-context", "gone", "--broker", "http://127.0.0.1:9/x"]) == 0
    assert main(["config", "use-context", "gone"]) == 0
    send = ["send", "--type", "dev.shoal.test", "--source", "/me", "--id", "e-2"]

    assert main(send) == 1
    assert "cannot reach http://127.0.0.1:9/x (from context 'gone' in" in capsys.readouterr().err
    monkeypatch.setenv("SHOAL_BROKER_URL", broker_url)
    assert main(send) == 0
    assert [event["id"] for event in logged_events(broker_url)] == ["e-2"]


@pytest.mark.parametrize(
    ("broker", "api", "hint"),
    [
        (LOCAL_BROKER_URL, LOCAL_API_URL, None),
        (LOCAL_BROKER_URL, None, None),  # `shoal up` without the API function
        (
            "http://127.0.0.1:9080/default/default",
            LOCAL_API_URL,
            "export SHOAL_BROKER_URL=http://127.0.0.1:9080/default/default",
        ),
        (
            "http://127.0.0.1:9080/default/default",
            "http://127.0.0.1:9081",
            "export SHOAL_BROKER_URL=http://127.0.0.1:9080/default/default"
            " SHOAL_API_URL=http://127.0.0.1:9081",
        ),
    ],
)
def test_shoal_up_on_other_ports_says_what_points_the_cli_there(
    broker: str,
    api: str | None,
    hint: str | None,
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert pointing_hint(broker, api) == hint
    if hint is not None:  # and what it says to set is what the CLI then uses
        for assignment in hint.removeprefix("export ").split():
            monkeypatch.setenv(*assignment.split("=", 1))
        assert resolve(BROKER, None, None, os.environ).url == broker
        if api is not None:
            assert resolve(API, None, None, os.environ).url == api
