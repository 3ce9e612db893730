"""The CLI's config file: named contexts, each a broker URL and an API URL, like a kubeconfig.

    current-context: local
    contexts:
      local: {broker: "http://127.0.0.1:8080/default/default", api: "http://127.0.0.1:8081"}
      prod: {broker: "http://broker-ingress.knative-eventing.svc.cluster.local/shoal/default",
             api: "https://api.shoal.example.com"}

It lives at `$SHOAL_CONFIG`, else `$XDG_CONFIG_HOME/shoal/config.yaml`, else
`~/.config/shoal/config.yaml`. A missing file is an empty config. Unknown keys are refused (a
misspelt `brokr:` would otherwise silently send events to the wrong place). `shoal config`
rewrites the file; comments are not kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from shoal.cli.errors import ConfigError

CONFIG_ENV = "SHOAL_CONFIG"
ENDPOINT_KEYS = ("broker", "api")


def config_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "shoal" / "config.yaml"


def check_url(url: str, what: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ConfigError(f"{what} {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8081")
    return url


@dataclass(frozen=True, slots=True)
class Context:
    broker: str | None = None
    api: str | None = None

    def url(self, key: str) -> str | None:
        return self.broker if key == "broker" else self.api


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    contexts: Mapping[str, Context] = field(default_factory=dict)
    current_context: str | None = None

    def context(self, name: str) -> Context:
        found = self.contexts.get(name)
        if found is None:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise ConfigError(f"no context {name!r} in {self.path} (contexts: {known})")
        return found

    def with_context(self, name: str, context: Context) -> Config:
        return replace(self, contexts={**self.contexts, name: context})

    def without_context(self, name: str) -> Config:
        self.context(name)
        current = None if self.current_context == name else self.current_context
        contexts = {key: value for key, value in self.contexts.items() if key != name}
        return replace(self, contexts=contexts, current_context=current)

    def using(self, name: str) -> Config:
        self.context(name)
        return replace(self, current_context=name)

    def to_document(self) -> dict[str, object]:
        document: dict[str, object] = {}
        if self.current_context is not None:
            document["current-context"] = self.current_context
        document["contexts"] = {
            name: {key: context.url(key) for key in ENDPOINT_KEYS if context.url(key)}
            for name, context in sorted(self.contexts.items())
        }
        return document


def load_config(path: Path) -> Config:
    """The config in `path`; an empty one when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path)
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_config(document or {}, path)


def parse_config(document: object, path: Path) -> Config:
    top = _mapping(document, f"{path}", ("current-context", "contexts"))
    current = top.get("current-context")
    if current is not None and not isinstance(current, str):
        raise ConfigError(f"{path}: current-context must be a context name, not {current!r}")
    contexts: dict[str, Context] = {}
    for name, value in _mapping(top.get("contexts") or {}, f"{path}: contexts", None).items():
        where = f"{path}: context {name!r}"
        entry = _mapping(value or {}, where, ENDPOINT_KEYS)
        urls = {key: check_url(str(entry[key]), f"{where}: {key}") for key in entry}
        contexts[str(name)] = Context(broker=urls.get("broker"), api=urls.get("api"))
    return Config(path, contexts, current)


def _mapping(value: object, where: str, keys: tuple[str, ...] | None) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, not {value!r:.60}")
    unknown = sorted(str(key) for key in value if keys is not None and key not in keys)
    if keys is not None and unknown:
        known = ", ".join(keys)
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {known}")
    return {str(key): item for key, item in value.items()}


def save_config(config: Config) -> None:
    """Write the config file (atomically: a reader never sees half of it)."""
    path = config.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        text = yaml.safe_dump(config.to_document(), sort_keys=False, default_flow_style=False)
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        raise ConfigError(f"cannot write the config file {path}: {error}") from None
