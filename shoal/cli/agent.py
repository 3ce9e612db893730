"""`shoal agent`: run the node agent, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import uvloop

from shoal.agent.errors import EXIT_CANNOT_RUN, EXIT_FAILED, AgentError, StateInUse
from shoal.agent.runner import running_agent
from shoal.agent.settings import DRIVERS, AgentSettings
from shoal.agent.sim import SimSettings
from shoal.cli.options import broker_url_default, labels
from shoal.orchestration.spec import Resources


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "agent",
        help="run a node agent",
        description="Run the node agent: register the node(s) with the broker, heartbeat, run "
        "the replicas scheduled on them through a driver, and report what happens to them.",
    )
    parser.add_argument("--name", required=True, help="the node's name (a DNS label)")
    parser.add_argument(
        "--broker",
        default=broker_url_default(),
        metavar="URL",
        help="the broker ingress to post events to (default $SHOAL_BROKER_URL or %(default)s)",
    )
    parser.add_argument(
        "--listen",
        type=host_port,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where the Trigger delivers (default 127.0.0.1 on a free port)",
    )
    parser.add_argument(
        "--advertise-url", metavar="URL", help="the URL the Trigger names (default: --listen's)"
    )
    parser.add_argument("--cpu", type=int, metavar="MILLICORES", help="default: this machine's")
    parser.add_argument("--memory", type=int, metavar="MiB", help="default: this machine's")
    parser.add_argument(
        "--labels",
        type=labels,
        default={},
        metavar="K=V,...",
        help="the node's labels, which a Deployment's constraints.nodeSelector matches",
    )
    parser.add_argument("--driver", choices=DRIVERS, default="exec")
    parser.add_argument("--nodes", type=int, default=1, help="simulated nodes (--driver sim)")
    parser.add_argument("--heartbeat-interval", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="state folder (default .shoal/agents/NAME)"
    )
    parser.add_argument("--start-delay", type=float, default=0.0, metavar="SECONDS", help="sim")
    parser.add_argument(
        "--exit-probability",
        type=float,
        default=0.0,
        metavar="P",
        help="sim: chance per second that a replica exits (code 137)",
    )
    parser.add_argument("--seed", type=int, help="sim: seed of the random exits")
    parser.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        help="post events in batches (default: on with --driver sim; Knative takes no batches)",
    )
    parser.add_argument(
        "--write-trigger",
        type=Path,
        metavar="DIR",
        help="write the agent's Trigger into DIR (a manifests folder the local broker watches)",
    )
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="between SIGTERM and SIGKILL when stopping a replica (default 10)",
    )
    parser.add_argument(
        "--stop-replicas-on-exit",
        action="store_true",
        help="stop every replica when the agent stops (SIGTERM, Ctrl-C); by default exec and "
        "docker replicas keep running and the next agent adopts them",
    )
    parser.set_defaults(run=run_agent)


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def machine_capacity() -> Resources:
    cpus = len(os.sched_getaffinity(0))
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return Resources(cpu_millis=cpus * 1000, memory_mib=memory // 2**20)


def settings_from(args: argparse.Namespace) -> AgentSettings:
    machine = machine_capacity()
    host, port = args.listen
    return AgentSettings(
        name=args.name,
        broker_url=args.broker,
        driver=args.driver,
        listen_host=host,
        listen_port=port,
        advertise_url=args.advertise_url,
        capacity=Resources(
            cpu_millis=machine.cpu_millis if args.cpu is None else args.cpu,
            memory_mib=machine.memory_mib if args.memory is None else args.memory,
        ),
        labels=MappingProxyType(args.labels),
        nodes=args.nodes,
        heartbeat_interval=args.heartbeat_interval,
        data_dir=args.data_dir,
        sim=SimSettings(args.start_delay, args.exit_probability, args.seed),
        batch=args.batch,
        write_trigger=args.write_trigger,
        stop_grace_seconds=args.stop_grace,
        stop_replicas_on_exit=args.stop_replicas_on_exit,
    )


async def serve(settings: AgentSettings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with running_agent(settings) as running:
        nodes = ", ".join(running.agent.nodes)
        print(f"agent {settings.name}: {running.url} (nodes {nodes})", flush=True)
        if running.trigger_path is not None:
            print(f"trigger written to {running.trigger_path}", flush=True)
        await stopping.wait()


def run_agent(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from(args)
    except ValueError as error:
        print(f"shoal agent: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        uvloop.run(serve(settings))
    except StateInUse as error:  # not a usage mistake: another agent runs
        print(f"shoal agent: {error}", file=sys.stderr)
        return EXIT_FAILED
    except AgentError as error:
        print(f"shoal agent: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except OSError as error:
        print(f"shoal agent: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0
