"""Reading containers' counters from cgroups: where the files are (v1, hybrid, v2), what is
read from them, the engine's stats as the same counters, and a real container's cgroup."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.agent import docker_cgroups
from shoal.agent.docker_cgroups import CgroupFiles, Counters
from tests.docker_engine import require_engine

ID = "docker/0123abcd"
V1 = f"4:memory:/{ID}\n2:cpu,cpuacct:/{ID}\n1:name=systemd:/{ID}\n"
HYBRID = V1 + f"0::/{ID}\n"
V2 = "0::/system.slice/docker-0123abcd.scope\n"


@pytest.mark.parametrize(("text", "expected"), [
    (V1, CgroupFiles(
        Path(f"/sys/fs/cgroup/cpuacct/{ID}/cpuacct.usage"),
        Path(f"/sys/fs/cgroup/memory/{ID}/memory.usage_in_bytes"),
        Path(f"/sys/fs/cgroup/memory/{ID}/memory.stat"),
        unified=False,
    )),
    (HYBRID, docker_cgroups.locate(V1)),
    (V2, CgroupFiles(
        Path("/sys/fs/cgroup/system.slice/docker-0123abcd.scope/cpu.stat"),
        Path("/sys/fs/cgroup/system.slice/docker-0123abcd.scope/memory.current"),
        Path("/sys/fs/cgroup/system.slice/docker-0123abcd.scope/memory.stat"),
        unified=True,
    )),
    ("1:name=systemd:/x\n", None),
    ("", None),
])  # fmt: skip
def test_the_counter_files_are_found_from_proc_cgroup(
    text: str, expected: CgroupFiles | None
) -> None:
    assert docker_cgroups.locate(text) == expected


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")


V2_GROUP = "system.slice/docker-0123abcd.scope"


@pytest.mark.parametrize(("proc_cgroup", "files", "expected"), [
    (V1, {  # less total_inactive_file (the hierarchy's), not inactive_file
        f"cpuacct/{ID}/cpuacct.usage": "2500000000\n",
        f"memory/{ID}/memory.usage_in_bytes": "3145728\n",
        f"memory/{ID}/memory.stat": "cache 9\ninactive_file 5\ntotal_inactive_file 1048576\n",
    }, Counters(2_500_000_000, 2 * 2**20)),
    (V2, {  # cpu.stat counts microseconds
        f"{V2_GROUP}/cpu.stat": "usage_usec 1500\nuser_usec 1000\n",
        f"{V2_GROUP}/memory.current": "4096\n",
        f"{V2_GROUP}/memory.stat": "anon 4096\ninactive_file 1024\n",
    }, Counters(1_500_000, 3072)),
])  # fmt: skip
def test_counters_are_cpu_ns_and_memory_less_the_inactive_page_cache(
    tmp_path: Path, proc_cgroup: str, files: dict[str, str], expected: Counters
) -> None:
    write(tmp_path, files)
    located = docker_cgroups.locate(proc_cgroup, root=tmp_path)

    assert located is not None
    assert docker_cgroups.read(located) == expected


def test_a_cgroup_that_is_gone_reads_as_none(tmp_path: Path) -> None:
    files = docker_cgroups.locate(V1, root=tmp_path)

    assert files is not None
    assert docker_cgroups.read(files) is None
    assert docker_cgroups.find(2**22 + 12345) is None  # above Linux's largest pid


def test_the_engine_s_stats_give_the_same_counters() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 7}},
        "memory_stats": {"usage": 3 * 2**20, "stats": {"total_inactive_file": 2**20}},
    }

    assert docker_cgroups.from_stats(stats) == Counters(7, 2 * 2**20)
    assert docker_cgroups.from_stats({}) == Counters(0, 0)


def test_a_running_container_s_counters_are_found_and_read() -> None:
    engine = require_engine()
    client = engine.client()
    container = client.containers.run(
        engine.base_image, ["python3", "-c", "sum(range(10**7)); import time; time.sleep(60)"],
        network_mode="host", detach=True, labels={"dev.shoal.test": "cgroups"},
    )  # fmt: skip
    try:
        container.reload()
        files = docker_cgroups.find(int(container.attrs["State"]["Pid"]))
        assert files is not None
        counters = docker_cgroups.read(files)
        assert counters is not None
        assert counters.cpu_ns > 0
        assert counters.memory_bytes > 0
    finally:
        container.remove(force=True)
        client.close()
