"""`shoal send`: post one CloudEvent to a broker (binary mode), like `kn event send`."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_broker.binding import encode_binary
from local_broker.event import CloudEvent
from shoal.cli.errors import CliError
from shoal.cli.options import add_endpoint_options, broker_endpoint, key_value


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send", help="post one CloudEvent", description="Post one CloudEvent in binary mode."
    )
    parser.add_argument("--type", required=True, help="the event type, e.g. dev.shoal.test")
    parser.add_argument("--source", required=True, help="the event source, e.g. /me")
    parser.add_argument("--subject")
    parser.add_argument("--id", help="the event id (default: a random UUID)")
    parser.add_argument("--data", help="the data: JSON text, or @FILE to read it from a file")
    parser.add_argument("--content-type", default="application/json", help="content type of --data")
    parser.add_argument(
        "-e",
        "--extension",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="an extension attribute (repeatable)",
    )
    add_endpoint_options(parser, broker=True)
    parser.set_defaults(run=run_send)


def build_event(args: argparse.Namespace) -> CloudEvent:
    attributes: dict[str, str | int | bool] = {
        "specversion": "1.0",
        "id": args.id or str(uuid.uuid4()),
        "source": args.source,
        "type": args.type,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if args.subject:
        attributes["subject"] = args.subject
    attributes.update(dict(args.extension))
    data: bytes | None = None
    if args.data is not None:
        if args.data.startswith("@"):
            data = Path(args.data[1:]).read_bytes()
        else:
            data = args.data.encode("utf-8")
        if args.content_type == "application/json":
            json.loads(data)  # fail here, not at the subscriber
        attributes["datacontenttype"] = args.content_type
    return CloudEvent(attributes, data)


def run_send(args: argparse.Namespace) -> int:
    try:
        event = build_event(args)
    except OSError as error:
        print(f"shoal send: cannot read --data file: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(
            f"shoal send: --data is not valid JSON ({error}); use --content-type for other formats",
            file=sys.stderr,
        )
        return 2
    try:
        broker = broker_endpoint(args)
    except CliError as error:
        print(f"shoal send: {error}", file=sys.stderr)
        return 1
    headers, body = encode_binary(event)
    request = urllib.request.Request(broker.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(f"{response.status} {response.reason}: sent {event.id}")
            return 0
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")
        print(f"{error.code} {error.reason}: {detail}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"shoal send: cannot reach {broker}: {error.reason}", file=sys.stderr)
        return 1
