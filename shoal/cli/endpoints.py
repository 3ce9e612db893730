"""Where the CLI talks: the broker (events it sends) and the API function (what it reads).

Each is resolved on its own, first match wins:

1. the option (`--broker URL`, `--api URL`);
2. the environment (`SHOAL_BROKER_URL`, `SHOAL_API_URL`);
3. the context chosen by `--context NAME`, else the config file's `current-context`
   (`shoal.cli.configfile`); a context that lacks the URL is an error, never a silent fallback
   to a local platform while the user meant another one;
4. without any context: the local platform `shoal up` starts with its default ports.

The config file is read only when steps 1 and 2 leave something to find, so a command given
every URL works whatever state the file is in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shoal.cli.configfile import check_url, config_path, load_config
from shoal.cli.errors import ConfigError

DEFAULT_BROKER_PORT = 8080
DEFAULT_API_PORT = 8081
API_SERVICE = "api"
"""The Knative Service (the function in functions/api.py) that serves the read-only API."""
LOCAL_BROKER_URL = f"http://127.0.0.1:{DEFAULT_BROKER_PORT}/default/default"
LOCAL_API_URL = f"http://127.0.0.1:{DEFAULT_API_PORT}"


@dataclass(frozen=True, slots=True)
class EndpointKind:
    key: str
    """The context key in the config file: `broker` or `api`."""
    option: str
    env: str
    local: str


BROKER = EndpointKind("broker", "--broker", "SHOAL_BROKER_URL", LOCAL_BROKER_URL)
API = EndpointKind("api", "--api", "SHOAL_API_URL", LOCAL_API_URL)


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    origin: str
    """Where the URL came from, for messages: `--api`, `$SHOAL_API_URL`, `context prod (...)`."""

    def __str__(self) -> str:
        return f"{self.url} (from {self.origin})"


def resolve(
    kind: EndpointKind,
    option: str | None,
    context: str | None,
    environ: Mapping[str, str],
) -> Endpoint:
    """The URL of `kind` given its option, the `--context` option and the environment."""
    if option:
        return Endpoint(check_url(option, kind.option), kind.option)
    from_env = environ.get(kind.env)
    if from_env:
        return Endpoint(check_url(from_env, f"${kind.env}"), f"${kind.env}")
    config = load_config(config_path(environ))
    name = context or config.current_context
    if name is None:
        return Endpoint(kind.local, "`shoal up`'s default")
    url = config.context(name).url(kind.key)
    origin = f"context {name!r} in {config.path}"
    if url is None:
        raise ConfigError(
            f"{origin} has no {kind.key} URL: add one with "
            f"`shoal config set-context {name} {kind.option} URL`, or pass {kind.option}"
        )
    return Endpoint(url, origin)


def pointing_hint(broker_url: str, api_url: str | None) -> str | None:
    """What to set so that the CLI's defaults reach a local platform started on other ports:
    `export SHOAL_BROKER_URL=... SHOAL_API_URL=...` for the URLs that differ, None if none does.
    (A context or these variables already set take precedence anyway; see the module.)"""
    differing = [(BROKER.env, broker_url)] if broker_url != BROKER.local else []
    if api_url is not None and api_url != API.local:
        differing.append((API.env, api_url))
    if not differing:
        return None
    return "export " + " ".join(f"{name}={url}" for name, url in differing)
