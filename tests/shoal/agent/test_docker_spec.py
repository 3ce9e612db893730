"""The docker driver's pure core: specs to container arguments and back, times, exit reasons."""

from __future__ import annotations

import pytest

from shoal.agent import docker_spec
from tests.shoal.agent.support import replica


def test_a_spec_becomes_a_host_network_container_with_its_limits_and_labels() -> None:
    spec = replica(
        "web-1", command=["httpd", "-p", "$PORT"], env={"A": "1"}, cpu=250, ports=[("http", 8081)]
    )

    arguments = docker_spec.create_arguments(spec)

    assert arguments["name"] == "shoal.n1.web-1"
    assert arguments["command"] == ["httpd", "-p", "8081"]
    assert arguments["environment"] == {"A": "1", "PORT": "8081", "PORT_HTTP": "8081"}
    assert arguments["network_mode"] == "host"
    assert (arguments["nano_cpus"], arguments["mem_limit"]) == (250_000_000, 64 * 2**20)
    assert docker_spec.spec_from_labels(arguments["labels"]) == spec


def test_no_command_runs_the_image_s_own_and_no_request_sets_no_limit() -> None:
    arguments = docker_spec.create_arguments(replica(cpu=0, memory=0))

    assert not {"command", "nano_cpus", "mem_limit"} & set(arguments)


def test_a_memory_request_below_docker_s_minimum_is_raised_to_it() -> None:
    assert docker_spec.create_arguments(replica(memory=1))["mem_limit"] == 6 * 2**20


@pytest.mark.parametrize(
    "labels", [{}, {docker_spec.SPEC_LABEL: "{"}, {docker_spec.SPEC_LABEL: '{"replica": 1}'}]
)
def test_labels_without_a_readable_spec_give_none(labels: dict[str, str]) -> None:
    assert docker_spec.spec_from_labels(labels) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T19:55:10.123456789Z", 1795895710.123456),
        ("2026-11-28T19:55:10Z", 1795895710.0),
        ("2026-11-28T20:55:10.5+01:00", 1795895710.5),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_docker_s_start_times_are_read_to_the_microsecond(
    text: str, expected: float | None
) -> None:
    assert docker_spec.parse_started_at(text) == expected


@pytest.mark.parametrize(
    ("cpu_ns", "now", "before", "millis"),
    [
        (500, 10.0, None, 0.0),  # the first sample has nothing to compare with
        (1_500_000_000, 12.0, (10.0, 500_000_000), 500.0),  # 1 s of cpu in 2 s: half a core
        (4_000_000_000, 11.0, (10.0, 0), 4000.0),  # four cores busy
        (500, 12.0, (10.0, 500), 0.0),
        (500, 10.0, (10.0, 0), 0.0),  # no time passed: no division by zero
        (0, 12.0, (10.0, 500), 0.0),  # a counter that went back (a new container) is not < 0
    ],
)
def test_cpu_millicores_between_two_samples(
    cpu_ns: int, now: float, before: tuple[float, int] | None, millis: float
) -> None:
    assert docker_spec.cpu_millis(cpu_ns, now, before) == millis
