"""Context attributes of a JSON-format CloudEvent (CloudEvents JSON Event Format, section 3).

Every member of the JSON object is a context attribute or extension, except the data members
`data` and `data_base64`. A member whose value is null is unset. JSON strings, booleans and
integers keep their type; other JSON values cannot be attribute values.
"""

from __future__ import annotations

from collections.abc import Mapping

from local_broker.event import AttributeValue

DATA_MEMBERS = frozenset({"data", "data_base64"})


def attributes_from_json_event(event: Mapping[str, object]) -> dict[str, AttributeValue]:
    """The attributes of `event`; raises ValueError naming a member that cannot be one."""
    attributes: dict[str, AttributeValue] = {}
    for name, value in event.items():
        if name in DATA_MEMBERS or value is None:
            continue
        if not isinstance(value, str | bool | int):
            raise ValueError(
                f"attribute {name!r} is a JSON {type(value).__name__}; "
                "attribute values are strings, booleans or integers"
            )
        attributes[name] = value
    return attributes
