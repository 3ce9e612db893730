"""The log's JSON codec writes exactly what JSONEncoder(separators=(",", ":")) writes and reads
back what json.loads reads, errors included."""

from __future__ import annotations

import json

import pytest

from local_broker import jsoncodec

VALUES = [
    {"specversion": "1.0", "id": "a", "source": "/s", "type": "t", "knativebrokerttl": 255},
    {"flag": True, "off": False, "count": -(2**31), "text": 'caf\u00e9 \U0001f600 \n"q"'},
    {"nested": {"list": [1, 2.5, None]}, "empty": {}},
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_encodes_as_the_compact_ascii_encoder_and_decodes_back(value: object) -> None:
    text = jsoncodec.encode(value)
    assert text == json.JSONEncoder(separators=(",", ":")).encode(value)
    assert jsoncodec.decode(text) == value
    assert type(jsoncodec.decode(text)) is type(value)


@pytest.mark.parametrize("text", ['{"a":1}x', '{"a":', "", " ", '{"a":1} {"b":2}'])
def test_what_is_not_one_json_value_fails_as_json_loads_fails(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        jsoncodec.decode(text)
    assert str(got.value) == str(expected.value)


def test_surrounding_whitespace_is_read_as_json_loads_reads_it() -> None:
    assert jsoncodec.decode(' {"a": 1} \n') == {"a": 1}
