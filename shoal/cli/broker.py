"""`shoal broker`: run the local Knative-compatible broker."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from local_broker import native
from local_broker.log import LogError
from local_broker.manifests import ManifestError
from local_broker.server import BrokerServer, run
from local_broker.settings import DEFAULT_MAX_EVENT_BYTES, BrokerSettings
from shoal.cli.options import key_value


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "broker",
        help="run the local broker",
        description="Run the local Knative-compatible broker with the Brokers, Triggers and "
        "PingSources found in the manifests.",
    )
    parser.add_argument(
        "--manifests",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="a YAML file or folder of manifests (repeatable)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=Path(".shoal"))
    parser.add_argument(
        "--service",
        action="append",
        type=key_value,
        default=[],
        metavar="NAME=URL",
        help="where a subscriber ref to the Service NAME points locally (repeatable)",
    )
    parser.add_argument(
        "--max-event-bytes",
        type=int,
        default=DEFAULT_MAX_EVENT_BYTES,
        help="largest request body accepted (default 1 MiB)",
    )
    parser.add_argument(
        "--retention-seconds", type=float, default=24 * 3600.0, help="how long events are kept"
    )
    parser.add_argument(
        "--dedup-window-seconds",
        type=float,
        default=600.0,
        help="an event whose (source, id) was accepted this recently is not delivered again",
    )
    parser.add_argument(
        "--log-writer",
        choices=("thread", "process"),
        default="process",
        help="run each Broker's log writer in a process of its own (default), which does not "
        "share the event loop's GIL (faster under load), or in a thread of the broker",
    )
    parser.add_argument(
        "--delivery",
        choices=("process", "inline"),
        default="process",
        help="run the Triggers' deliveries in a process of their own beside the ingress "
        "(default; each has a core then), or on the ingress's event loop (one process)",
    )
    parser.set_defaults(run=run_broker)


def settings_from(args: argparse.Namespace) -> BrokerSettings:
    return BrokerSettings(
        manifests=tuple(args.manifests),
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        services=dict(args.service),
        max_event_bytes=args.max_event_bytes,
        retention_seconds=args.retention_seconds,
        dedup_window_seconds=args.dedup_window_seconds,
        log_writer=args.log_writer,
        delivery=args.delivery,
    )


def _announce(server: BrokerServer) -> None:
    runtime = server.runtime
    assert runtime.config is not None
    for namespace, name in sorted(runtime.config.brokers):
        print(f"broker {namespace}/{name}: {server.url}/{namespace}/{name}", flush=True)
    print(
        f"{len(runtime.config.triggers)} trigger(s), "
        f"{len(runtime.config.ping_sources)} ping source(s); metrics at {server.url}/metrics",
        flush=True,
    )
    print(f"hot path: {native.status().describe()}", flush=True)


def run_broker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        run(settings_from(args), _announce)
    except (ManifestError, LogError) as error:  # a bad manifest; an event log it cannot open
        print(f"shoal broker: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"shoal broker: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0
