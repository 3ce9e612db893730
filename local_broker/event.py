"""The broker's vocabulary for one CloudEvent.

An event is its context attributes plus the data as raw bytes. Attribute values keep the
CloudEvents type they arrived with where the wire format carries one (JSON format: numbers and
booleans), and are strings otherwise (binary mode headers). Filters compare the canonical string
form (CloudEvents spec, "Type System": Boolean is `true`/`false`, Integer is decimal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

AttributeValue: TypeAlias = str | int | bool
Attributes: TypeAlias = Mapping[str, AttributeValue]

REQUIRED_ATTRIBUTES = ("id", "source", "specversion", "type")
SUPPORTED_SPEC_VERSIONS = ("1.0", "0.3")


def canonical_string(value: AttributeValue) -> str:
    """The canonical string form of an attribute value (CloudEvents core spec, Type System)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One CloudEvent: context attributes and the data bytes (None when the event has no data)."""

    attributes: Attributes
    data: bytes | None = field(default=None)

    @property
    def id(self) -> str:
        return canonical_string(self.attributes["id"])

    @property
    def source(self) -> str:
        return canonical_string(self.attributes["source"])

    @property
    def type(self) -> str:
        return canonical_string(self.attributes["type"])

    def get(self, name: str) -> str | None:
        """The canonical string form of attribute `name`, or None when the event lacks it."""
        value = self.attributes.get(name)
        return None if value is None else canonical_string(value)

    def with_attributes(self, **changes: AttributeValue | None) -> CloudEvent:
        """A copy with attributes set (or removed, where the value is None). Data is untouched."""
        attributes = dict(self.attributes)
        for name, value in changes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        return CloudEvent(attributes, self.data)
