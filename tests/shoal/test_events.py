"""The event catalog: one list that code, manifests and docs share."""

from __future__ import annotations

import typing
from pathlib import Path

from shoal import events

DOCS = Path(__file__).resolve().parents[2] / "docs" / "functions.md"


def _type_name(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation)
    for module in ("collections.abc.", "typing.", "shoal.events."):
        text = text.replace(module, "")
    return text


def catalog_table() -> str:
    rows = ["| type | data | emitted by | consumed by |", "|---|---|---|---|"]
    for entry in events.CATALOG:
        hints = typing.get_type_hints(entry.schema)
        # NotRequired: the field may be left out. Read from the annotations as written: with
        # postponed evaluation, Python 3.11 lists every key in __required_keys__.
        written = {
            name: getattr(raw, "__forward_arg__", str(raw))
            for name, raw in entry.schema.__annotations__.items()
        }
        fields = ", ".join(
            f"`{name}: {_type_name(kind)}`"
            + (" (optional)" if written[name].startswith("NotRequired[") else "")
            for name, kind in hints.items()
        )
        rows.append(f"| `{entry.type}` | {fields} | {entry.emitted_by} | {entry.consumed_by} |")
    return "\n".join(rows) + "\n"


def test_every_type_is_a_shoal_type_listed_once() -> None:
    types = [entry.type for entry in events.CATALOG]

    assert len(set(types)) == len(types)
    assert all(t.startswith(events.SHOAL_TYPE_PREFIX) for t in types)
    assert all(typing.is_typeddict(entry.schema) for entry in events.CATALOG)


def test_the_docs_list_the_catalog_as_it_is() -> None:
    table = catalog_table()

    assert table in DOCS.read_text(), f"update the table in {DOCS} to:\n{table}"
