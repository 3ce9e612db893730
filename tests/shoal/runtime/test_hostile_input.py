"""Requests no retry can ever make valid are refused with 400 (JSON body, one JSON log line),
through functions-framework's app as it serves a function (Flask's test client).

Before: JSON nested 100,000 deep or a body that is not UTF-8 escaped as a 500 with Flask's HTML
page and traceback; `%FF`, `%FE` and `%C3` all decoded to U+FFFD and collided in the inbox;
control characters, NUL and lone surrogates reached the state store (PostgreSQL: 500 forever);
raw UTF-8 header bytes were read as ISO-8859-1, so one id was two events.
"""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from .serving import STRUCTURED, binary, resource, serve, structured

DEEP = b"[" * 100_000 + b"]" * 100_000
# 8,000 characters that do not compress (PostgreSQL compresses a long index entry first).
INCOMPRESSIBLE = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(125))


def refused_once(response: object, json_log: io.StringIO, says: str) -> None:
    """`response` is the 400 of a refused request, logged as one JSON line."""
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.headers["Content-Type"] == "application/json"  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["function"] == "count_runs"
    assert says in body["error"]
    (line,) = [json.loads(text) for text in json_log.getvalue().splitlines()]
    assert (line["level"], line["message"]) == ("warning", "not a CloudEvent, refused")
    assert says in line["error"]


@pytest.mark.parametrize(
    ("headers", "body", "says"),
    [
        (binary(), DEEP, "nests JSON too deeply"),
        ({**binary(), "ce-specversion": "0.3"}, DEEP, "nests JSON too deeply"),
        (STRUCTURED, structured(data=None)[:-1] + b', "data": ' + DEEP + b"}", "too deeply"),
        (STRUCTURED, structured(specversion="0.3")[:-1] + b', "x": ' + DEEP + b"}", "too deeply"),
        (STRUCTURED, b'{"specversion": "1.0", "id": "\xff", "source": "/t", "type": "t"}', "UTF-8"),
        (binary(), b"\xff\xfe{}", "not UTF-8"),
        (binary(), b'{"n": 1e999}', "too large for a double"),
        (binary(), b'{"n": NaN}', "not valid JSON"),
    ],
    ids=[
        "binary",
        "binary-0.3",
        "structured",
        "structured-0.3",
        "not-utf-8",
        "binary-not-utf-8",
        "binary-beyond-a-double",
        "binary-nan",
    ],
)
def test_input_that_can_never_be_read_is_a_400_with_a_json_body_and_one_log_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    json_log: io.StringIO,
    *,
    headers: dict[str, str],
    body: bytes,
    says: str,
) -> None:
    state_url = f"sqlite:///{tmp_path}/state.db"
    client = serve(monkeypatch, "count_runs", state_url)

    response = client.post("/", headers=headers, data=body)

    refused_once(response, json_log, says)
    assert resource(state_url, "Runs", "all") is None


@pytest.mark.parametrize("encoded", ["%FF", "%FE", "%C3", "%C3%28", "%C0%AF", "%ED%A0%80"])
def test_a_percent_encoded_value_that_is_not_utf_8_is_refused_naming_the_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, json_log: io.StringIO, encoded: str
) -> None:
    state_url = f"sqlite:///{tmp_path}/state.db"
    client = serve(monkeypatch, "count_runs", state_url)

    response = client.post("/", headers=binary(event_id=encoded), data=b"{}")

    refused_once(response, json_log, "the value of header ce-id is not valid UTF-8")
    assert resource(state_url, "Runs", "all") is None  # no id stands in for it


def test_distinct_encoded_ids_are_distinct_events(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    state_url = f"sqlite:///{tmp_path}/state.db"
    client = serve(monkeypatch, "count_runs", state_url)

    statuses = [
        client.post("/", headers=binary(event_id=encoded), data=b"{}").status_code
        for encoded in ("%C3%A9", "%C3%A8", "caf%C3%A9")
    ]

    assert statuses == [200, 200, 200]
    assert resource(state_url, "Runs", "all") == {
        "events": [["/tests", "é"], ["/tests", "è"], ["/tests", "café"]]
    }


def test_raw_utf_8_header_bytes_name_the_same_event_as_structured_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    state_url = f"sqlite:///{tmp_path}/state.db"
    client = serve(monkeypatch, "count_runs", state_url)
    # A WSGI server hands raw header bytes over as ISO-8859-1 text (PEP 3333): this is what
    # it makes of the UTF-8 bytes of "é", and what the test client passes through unchanged.
    raw_utf8 = "é".encode().decode("latin-1")

    in_binary = client.post("/", headers=binary(event_id=raw_utf8), data=b"{}")
    in_structured = client.post("/", headers=STRUCTURED, data=structured(id="é"))

    assert (in_binary.status_code, in_structured.status_code) == (200, 200)
    assert resource(state_url, "Runs", "all") == {"events": [["/tests", "é"]]}  # ran once
    assert in_binary.headers["ce-id"] == in_structured.headers["ce-id"]  # the same reply


def test_raw_header_bytes_that_are_not_utf_8_are_refused_in_ce_headers_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, json_log: io.StringIO
) -> None:
    client = serve(monkeypatch, "count_runs", f"sqlite:///{tmp_path}/state.db")
    latin1 = "\xe9"  # the single byte 0xE9: "é" in ISO-8859-1, not UTF-8

    elsewhere = client.post("/", headers={**binary(), "X-Note": latin1}, data=b"{}")
    refused = client.post("/", headers=binary(event_id=latin1), data=b"{}")

    assert elsewhere.status_code == 200
    refused_once(refused, json_log, "the value of header ce-id is not UTF-8")


@pytest.mark.parametrize(
    ("headers", "body", "says"),
    [
        (binary(event_id="a%00b"), b"{}", "header ce-id contains a control character"),
        (binary(source="/x%00"), b"{}", "header ce-source contains a control character"),
        (binary(event_id="x%01y"), b"{}", "header ce-id contains a control character"),
        (binary(subject="a%7Fb"), b"{}", "header ce-subject contains a control character"),
        (binary(event_id="a%C2%85b"), b"{}", "header ce-id contains a control character"),
        (binary(knativebrokerttl="%00"), b"{}", "header ce-knativebrokerttl contains"),
        (STRUCTURED, structured(id="\ud800"), "'id' contains a control character or a lone"),
        (STRUCTURED, structured(id="a\u0000b"), "'id' contains a control character"),
        (STRUCTURED, structured(subject="web\u00071"), "'subject' contains a control character"),
        (STRUCTURED, structured(node={"name": "n1"}), "Attribute 'node' is {'name': 'n1'}"),
        (STRUCTURED, structured(count=2**31), "outside the CloudEvents Integer range"),
        (STRUCTURED, structured(ratio=0.5), "Attribute 'ratio' is 0.5"),
    ],
    ids=[
        "nul-id",
        "nul-source",
        "control-id",
        "delete-subject",
        "c1-id",
        "nul-ttl",
        "surrogate-id",
        "structured-nul",
        "structured-bell",
        "object-extension",
        "big-integer",
        "float",
    ],
)
def test_attribute_values_cloudevents_does_not_allow_are_refused(
    monkeypatch: pytest.MonkeyPatch,
    state_url: str,
    json_log: io.StringIO,
    *,
    headers: dict[str, str],
    body: bytes,
    says: str,
) -> None:
    client = serve(monkeypatch, "count_runs", state_url)

    first = client.post("/", headers=headers, data=body)

    refused_once(first, json_log, says)
    assert resource(state_url, "Runs", "all") is None


@pytest.mark.parametrize("state_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("long", ["ce-id", "ce-source"])
def test_an_id_too_long_for_the_postgresql_inbox_is_dead_lettered_with_422(
    monkeypatch: pytest.MonkeyPatch, state_url: str, long: str
) -> None:
    client = serve(monkeypatch, "count_runs", state_url)
    headers = {**binary(), long: "/" + INCOMPRESSIBLE}

    first = client.post("/", headers=headers, data=b"{}")
    again = client.post("/", headers=headers, data=b"{}")
    afterwards = client.post("/", headers=binary(event_id="short"), data=b"{}")

    assert (first.status_code, again.status_code) == (422, 422)  # not retried: no 503
    error = first.get_json()["error"]
    assert error.startswith("permanent failure: the state store cannot record this event")
    assert "index row size" in error
    assert afterwards.status_code == 200


@pytest.mark.parametrize(
    ("body", "kind", "data"),
    [
        (
            structured(specversion="0.3", datacontentencoding="base64", data="aGVsbG8="),
            "bytes",
            b"hello".hex(),
        ),
        (structured(data_base64="aGk="), "bytes", b"hi".hex()),
        (structured(data_base64="aGk=", datacontenttype="application/json"), "bytes", "6869"),
        (structured(data={"a": 1}), "dict", {"a": 1}),
        (structured(data="plain", datacontenttype="text/plain"), "bytes", b"plain".hex()),
        (structured(data="é", datacontenttype="text/plain; charset=latin-1"), "bytes", "e9"),
        (structured(data=None, data_base64=None), "NoneType", None),
    ],
    ids=["0.3-base64", "data_base64", "data_base64-json", "json", "text", "charset", "nulls"],
)
def test_structured_data_reaches_the_handler_as_the_json_format_defines_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, body: bytes, kind: str, data: object
) -> None:
    client = serve(monkeypatch, "show_data", f"sqlite:///{tmp_path}/state.db")

    response = client.post("/", headers=STRUCTURED, data=body)

    assert response.status_code == 200
    assert response.get_json() == {"kind": kind, "data": data}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (structured(data_base64="!!!"), "Data_base64 must be a base64 string"),
        (structured(data_base64=7), "Data_base64 must be a base64 string"),
        (structured(data={"x": 1}, data_base64="AA=="), "either a data or a data_base64 member"),
        (
            structured(specversion="0.3", datacontentencoding="base64", data="***"),
            "Data must be a base64 string",
        ),
        (structured(datacontenttype="text/plain", data={"x": 1}), "data must be a JSON string"),
    ],
    ids=["invalid-base64", "not-a-string", "both", "0.3-invalid-base64", "text-not-string"],
)
def test_structured_data_that_breaks_the_json_format_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    json_log: io.StringIO,
    body: bytes,
    says: str,
) -> None:
    client = serve(monkeypatch, "count_runs", f"sqlite:///{tmp_path}/state.db")

    response = client.post("/", headers=STRUCTURED, data=body)

    refused_once(response, json_log, says)
