"""The values a CloudEvents attribute may hold, checked where events enter the runtime (a
request: 400) and where they leave it (emitted events: a handler failure, 500).

CloudEvents core spec 1.0.2, "Type System": a String holds no control characters (U+0000 to
U+001F, U+007F to U+009F) and no surrogate code points; an Integer is a 32-bit signed whole
number; a Boolean is true or false. The JSON format writes each as a JSON string, number or
boolean (json-format 2.2); binary mode carries every value as a string. The rules are the
broker's (`local_broker.attributes` and `local_broker.headers`, which `shoal.runtime.wire`
already uses), so what the runtime accepts or emits the broker's ingress accepts too.
"""

from __future__ import annotations

from local_broker.attributes import INTEGER_MAX, INTEGER_MIN, InvalidEvent, shown
from local_broker.event import AttributeValue
from local_broker.headers import has_disallowed_character


def attribute_value(name: str, value: object) -> AttributeValue:
    """`value`, if it is a valid value of attribute `name`; InvalidEvent (naming it) if not."""
    if isinstance(value, str):
        # Printable text holds neither controls nor surrogates: most values stop at this test.
        if not value.isprintable() and has_disallowed_character(value):
            raise InvalidEvent(
                name,
                f"attribute '{name}' contains a control character or a lone surrogate, which "
                "CloudEvents strings must not (core spec, Type System)",
            )
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            raise InvalidEvent(
                name,
                f"attribute '{name}' is {value}, outside the CloudEvents Integer range "
                f"{INTEGER_MIN} to {INTEGER_MAX}; send larger numbers as a string",
            )
        return value
    raise InvalidEvent(
        name,
        f"attribute '{name}' is {shown(value)} (a {type(value).__name__}); attribute values "
        "must be a string, a whole number or a boolean (core spec, Type System), so put "
        "structured values in data or send them as a string",
    )
