"""Reading what `shoal apply -f` is given: YAML files, folders of them, or `-` (stdin), each
file possibly holding several documents (`---`), and checking every document before anything
is sent.

Folders are read recursively, `*.yaml`, `*.yml` and `*.json` files in path order; a file named
explicitly is read whatever its name. Empty documents are skipped. Every problem is collected,
each naming the file and the document's position in it, so one run shows them all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from shoal.orchestration.spec import API_VERSION, KIND, InvalidSpec, parse_deployment

STDIN = "-"
SUFFIXES = (".yaml", ".yml", ".json")
EXAMPLE = f"apiVersion: {API_VERSION}, kind: {KIND}, metadata: {{name: web}}, spec: {{...}}"


@dataclass(frozen=True, slots=True)
class Document:
    origin: str
    """Where it was read: `web.yaml` or `all.yaml (document 2)`."""
    body: object


@dataclass(frozen=True, slots=True)
class Checked:
    """The Deployment documents to send, in order, or the problems that stop sending any."""

    deployments: list[tuple[str, Mapping[str, object]]]
    problems: list[str]


def _files(source: str) -> Iterator[Path]:
    path = Path(source)
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    else:
        yield path


def _documents_in(text: str, origin: str) -> Iterator[Document]:
    bodies = [body for body in yaml.safe_load_all(text) if body is not None]
    for index, body in enumerate(bodies, start=1):
        yield Document(f"{origin} (document {index})" if len(bodies) > 1 else origin, body)


def read_documents(sources: Sequence[str]) -> tuple[list[Document], list[str]]:
    """Every document in `sources` (files, folders, `-`), and what could not be read."""
    documents: list[Document] = []
    problems: list[str] = []
    for source in sources:
        paths = [STDIN] if source == STDIN else list(_files(source))
        if not paths:
            problems.append(f"{source}: a folder without {', '.join(SUFFIXES)} files")
        for path in paths:
            origin = "<stdin>" if path == STDIN else str(path)
            try:
                text = sys.stdin.read() if path == STDIN else Path(path).read_text("utf-8")
                documents.extend(_documents_in(text, origin))
            except OSError as error:
                problems.append(f"{origin}: cannot read it: {error.strerror or error}")
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                problems.append(f"{origin}: not valid YAML: {error}")
    return documents, problems


def check(documents: Sequence[Document]) -> Checked:
    """The Deployments among `documents`, each validated as the deployments function will."""
    deployments: list[tuple[str, Mapping[str, object]]] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for document in documents:
        body, origin = document.body, document.origin
        if not isinstance(body, Mapping):
            problems.append(f"{origin}: is not a mapping; write {EXAMPLE}")
            continue
        if body.get("kind") != KIND:
            problems.append(
                f"{origin}: kind {body.get('kind')!r} cannot be applied; shoal apply takes "
                f"kind: {KIND} (apiVersion: {API_VERSION})"
            )
            continue
        try:  # it also refuses what JSON cannot carry (YAML dates, .inf), so all can be sent
            name = parse_deployment(body).name
        except InvalidSpec as error:
            problems.extend(f"{origin}: {problem}" for problem in error.problems)
            continue
        if name in seen:
            problems.append(f"{origin}: deployment {name!r} is also defined in {seen[name]}")
            continue
        seen[name] = origin
        deployments.append((name, body))
    return Checked(deployments, problems)
