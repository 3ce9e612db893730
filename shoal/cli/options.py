"""Option parsing shared by subcommands: `NAME=VALUE` pairs, node labels, the endpoints and the
resource words (`deployment`, `deployments`, `deploy`) commands take, like kubectl."""

from __future__ import annotations

import argparse
import os

from shoal.cli.endpoints import API, BROKER, LOCAL_BROKER_URL, Endpoint, resolve

DEPLOYMENT_WORDS = ("deployment", "deployments", "deploy")


def key_value(text: str) -> tuple[str, str]:
    """argparse type for `NAME=VALUE`."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def labels(text: str) -> dict[str, str]:
    """argparse type for `K=V,...` (a node's labels, as `shoal agent` and `shoal up` take them);
    empty: none."""
    found: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(
                f"expected K=V labels separated by commas, got {item!r} in {text!r}"
            )
        found[name] = value
    return found


def count(text: str) -> int:
    """argparse type for a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def broker_url_default() -> str:
    """`shoal agent`'s default: $SHOAL_BROKER_URL or the local broker. An agent is configured by
    its options and environment only; user commands resolve theirs with `broker_endpoint`."""
    return os.environ.get(BROKER.env, LOCAL_BROKER_URL)


def add_endpoint_options(
    parser: argparse.ArgumentParser, *, broker: bool = False, api: bool = False
) -> None:
    """`--broker`, `--api` (as asked) and `--context`; resolved after parsing (see endpoints)."""
    if broker:
        parser.add_argument(
            "--broker",
            metavar="URL",
            help="the broker ingress URL (default: $SHOAL_BROKER_URL, the context's, or the "
            "local platform's)",
        )
    if api:
        parser.add_argument(
            "--api",
            metavar="URL",
            help="the API function's URL (default: $SHOAL_API_URL, the context's, or the local "
            "platform's)",
        )
    parser.add_argument(
        "--context", metavar="NAME", help="the config file context to use (default: current)"
    )


def broker_endpoint(args: argparse.Namespace) -> Endpoint:
    return resolve(BROKER, args.broker, args.context, os.environ)


def api_endpoint(args: argparse.Namespace) -> Endpoint:
    return resolve(API, args.api, args.context, os.environ)
