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
from shoal.cli.options import add_endpoint_options, broker_endpoint, count

FOLLOW_WAIT_SECONDS = 10


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "events", help="print the broker's event log", description="Print the broker's event log."
    )
    add_endpoint_options(parser, broker=True)
    parser.add_argument("--type", help="only events of this type")
    parser.add_argument(
        "--after",
        type=count,
        metavar="SEQ",
        help="the first --limit events after this sequence number (or dead-letter id); "
        "without it, the newest --limit",
    )
    parser.add_argument(
        "--limit", type=count, default=100, help="how many at most (default 100, at most 1000)"
    )
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


def _none_found(args: argparse.Namespace) -> str:
    """The note for an empty answer: what was asked for, and found none of."""
    what = "dead letters" if args.dead else "events"
    of_type = f" of type {args.type}" if args.type else ""
    after = f" after {args.after}" if args.after is not None else ""
    return f"No {what}{of_type}{after}."


def run_events(args: argparse.Namespace) -> int:
    try:
        broker = broker_endpoint(args)
    except CliError as error:
        print(f"shoal events: {error}", file=sys.stderr)
        return 1
    try:
        _list(broker.url, args)
    except urllib.error.HTTPError as error:
        print(f"{error.code}: {error.read().decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"shoal events: cannot reach {broker}: {error.reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _list(broker_url: str, args: argparse.Namespace) -> None:
    """The newest `--limit` (or the first after `--after`), then, with `--follow`, what comes."""
    path = "/-/dead-letters" if args.dead else "/-/events"
    newest = args.after is None
    after = args.after or 0
    while True:
        query = {"after": str(after), "last" if newest else "limit": str(args.limit)}
        if args.type:
            query["type"] = args.type
        if args.follow and not newest and not args.dead:
            query["wait"] = str(FOLLOW_WAIT_SECONDS)
        body = _get(_admin_url(broker_url, path, query), FOLLOW_WAIT_SECONDS + 20)
        entries = body["dead_letters"] if args.dead else body["events"]
        for entry in entries:
            _print_event(entry, args.output)
        if not entries and not args.follow:  # as `shoal get` says "No resources found."
            print(_none_found(args), file=sys.stderr)
        if newest and len(entries) == args.limit and args.output == "text":
            print(
                f"(the newest {args.limit}; --after SEQ or a larger --limit shows earlier ones)",
                file=sys.stderr,
            )
        if not args.dead:
            after = body["scanned"]
        elif entries:
            after = entries[-1]["id"]
        if not args.follow:
            return
        if args.dead and not entries:
            time.sleep(1.0)
        newest = False
