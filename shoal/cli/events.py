"""`shoal events`: print a broker's event log (or its dead letters), optionally following it."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from shoal.cli.errors import CliError
from shoal.cli.options import add_endpoint_options, broker_endpoint

FOLLOW_WAIT_SECONDS = 10


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "events", help="print the broker's event log", description="Print the broker's event log."
    )
    add_endpoint_options(parser, broker=True)
    parser.add_argument("--type", help="only events of this type")
    parser.add_argument("--after", type=int, default=0, help="only events after this sequence")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--dead", action="store_true", help="list dead-lettered events instead")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(run=run_events)


def _admin_url(broker_url: str, path: str, query: dict[str, str]) -> str:
    parts = urllib.parse.urlsplit(broker_url)
    query = {"broker": parts.path.strip("/") or "default/default", **query}
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), "")
    )


def _get(url: str, timeout: float) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: dict[str, Any] = json.load(response)
        return body


def _print_event(entry: dict[str, Any], output: str) -> None:
    if output == "json":
        print(json.dumps(entry, separators=(",", ":")), flush=True)
        return
    event = entry["event"]
    subject = f" subject={event['subject']}" if "subject" in event else ""
    prefix = f"#{entry['seq']}" if "seq" in entry else f"dead#{entry['id']} [{entry['reason']}]"
    print(
        f"{prefix} {event.get('knativearrivaltime', '')} {event['type']} "
        f"source={event['source']} id={event['id']}{subject}",
        flush=True,
    )


def run_events(args: argparse.Namespace) -> int:
    after = args.after
    try:
        broker = broker_endpoint(args)
    except CliError as error:
        print(f"shoal events: {error}", file=sys.stderr)
        return 1
    try:
        while True:
            query = {"after": str(after), "limit": str(args.limit)}
            if args.type:
                query["type"] = args.type
            if args.dead:
                body = _get(_admin_url(broker.url, "/-/dead-letters", query), 30)
                entries = body["dead_letters"]
                after = entries[-1]["id"] if entries else after
                if args.follow and not entries:
                    time.sleep(1.0)
            else:
                if args.follow:
                    query["wait"] = str(FOLLOW_WAIT_SECONDS)
                body = _get(_admin_url(broker.url, "/-/events", query), FOLLOW_WAIT_SECONDS + 20)
                entries = body["events"]
                after = body["scanned"]
            for entry in entries:
                _print_event(entry, args.output)
            if not args.follow:
                return 0
    except urllib.error.HTTPError as error:
        print(f"{error.code}: {error.read().decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"shoal events: cannot reach {broker}: {error.reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
