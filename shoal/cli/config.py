"""`shoal config`: the contexts of the config file (`shoal.cli.configfile`), like
`kubectl config`, and `shoal config endpoints`: where commands would talk, and why."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import yaml

from shoal.cli.configfile import Config, Context, check_url, config_path, load_config, save_config
from shoal.cli.errors import CliError
from shoal.cli.options import add_endpoint_options, api_endpoint, broker_endpoint
from shoal.cli.tables import format_table

Action = Callable[[argparse.Namespace, Config], None]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "config",
        help="manage contexts: where the CLI talks",
        description="Manage the contexts of the config file ($SHOAL_CONFIG, else "
        "~/.config/shoal/config.yaml): each names a broker URL and an API URL.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    view = actions.add_parser("view", help="print the config file")
    view.set_defaults(run=_run(show_config))
    listing = actions.add_parser("get-contexts", help="list the contexts")
    listing.set_defaults(run=_run(get_contexts))
    current = actions.add_parser("current-context", help="print the current context")
    current.set_defaults(run=_run(current_context))
    use = actions.add_parser("use-context", help="make a context the current one")
    use.add_argument("name")
    use.set_defaults(run=_run(use_context))
    setting = actions.add_parser("set-context", help="create or change a context")
    setting.add_argument("name")
    setting.add_argument("--broker", metavar="URL", help="the broker ingress URL")
    setting.add_argument("--api", metavar="URL", help="the API function's URL")
    setting.add_argument("--use", action="store_true", help="also make it the current context")
    setting.set_defaults(run=_run(set_context))
    deleting = actions.add_parser("delete-context", help="remove a context")
    deleting.add_argument("name")
    deleting.set_defaults(run=_run(delete_context))
    endpoints = actions.add_parser(
        "endpoints", help="print the broker and API URLs commands would use, and where from"
    )
    add_endpoint_options(endpoints, broker=True, api=True)
    endpoints.set_defaults(run=show_endpoints)


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            action(args, load_config(config_path(os.environ)))
        except CliError as error:
            print(f"shoal config: {error}", file=sys.stderr)
            return 1
        return 0

    return run


def show_config(_args: argparse.Namespace, config: Config) -> None:
    missing = "" if config.path.exists() else " (no such file yet)"
    print(f"# {config.path}{missing}")
    print(yaml.safe_dump(config.to_document(), sort_keys=False), end="")


def get_contexts(_args: argparse.Namespace, config: Config) -> None:
    rows = [
        ["*" if name == config.current_context else "", name, ctx.broker or "", ctx.api or ""]
        for name, ctx in sorted(config.contexts.items())
    ]
    print(format_table(["CURRENT", "NAME", "BROKER", "API"], rows), end="")


def current_context(_args: argparse.Namespace, config: Config) -> None:
    if config.current_context is None:
        raise CliError(f"no current context in {config.path}: `shoal config use-context NAME`")
    print(config.current_context)


def use_context(args: argparse.Namespace, config: Config) -> None:
    save_config(config.using(args.name))
    print(f"switched to context {args.name!r}")


def set_context(args: argparse.Namespace, config: Config) -> None:
    old = config.contexts.get(args.name, Context())
    context = Context(
        broker=check_url(args.broker, "--broker") if args.broker else old.broker,
        api=check_url(args.api, "--api") if args.api else old.api,
    )
    updated = config.with_context(args.name, context)
    save_config(updated.using(args.name) if args.use else updated)
    print(f"context {args.name!r} {'modified' if args.name in config.contexts else 'created'}")


def delete_context(args: argparse.Namespace, config: Config) -> None:
    save_config(config.without_context(args.name))
    print(f"deleted context {args.name!r} from {config.path}")


def show_endpoints(args: argparse.Namespace) -> int:
    """Resolved as every command resolves them: the config file is read only if needed."""
    try:
        print(f"broker  {broker_endpoint(args)}")
        print(f"api     {api_endpoint(args)}")
    except CliError as error:
        print(f"shoal config: {error}", file=sys.stderr)
        return 1
    return 0
