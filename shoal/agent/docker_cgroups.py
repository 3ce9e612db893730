"""A container's cpu and memory counters, read from its cgroup as `docker stats` computes them,
without asking the engine.

Why not the Engine API's stats: dockerd samples containers once a second and answers a stats
request (even `one-shot`) at its next sample, so asking for N containers one after another
takes about N seconds, far too slow for heartbeats every second. The kernel's counters cost a
few file reads.

The cgroup is found from `/proc/<pid>/cgroup` of the container's first process: cgroup v1
(`cpuacct.usage` in ns; `memory.usage_in_bytes` less `total_inactive_file` of `memory.stat`)
or v2 (`usage_usec` of `cpu.stat`; `memory.current` less `inactive_file`). `find` gives None
when the files cannot be read (the agent in another pid namespace, the process gone); the
driver then asks the engine (`from_stats`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CgroupFiles", "Counters", "find", "from_stats", "locate", "read"]

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class Counters:
    cpu_ns: int
    """Cpu time used since the container started, in nanoseconds."""
    memory_bytes: int
    """Memory in use less the inactive page cache (what `docker stats` shows)."""


@dataclass(frozen=True, slots=True)
class CgroupFiles:
    cpu: Path
    memory_usage: Path
    memory_stat: Path
    unified: bool
    """cgroup v2: cpu.stat's usage_usec, memory.stat's inactive_file."""


def locate(proc_cgroup: str, root: Path = ROOT) -> CgroupFiles | None:
    """The counter files named by the text of `/proc/<pid>/cgroup`: the v1 `cpuacct` and
    `memory` hierarchies where they exist (also on hybrid hosts), else the v2 unified one."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        _number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path.lstrip("/")
    if "cpuacct" in paths and "memory" in paths:
        memory = root / "memory" / paths["memory"]
        return CgroupFiles(
            cpu=root / "cpuacct" / paths["cpuacct"] / "cpuacct.usage",
            memory_usage=memory / "memory.usage_in_bytes",
            memory_stat=memory / "memory.stat",
            unified=False,
        )
    if "" in paths:
        group = root / paths[""]
        return CgroupFiles(
            group / "cpu.stat", group / "memory.current", group / "memory.stat", unified=True
        )
    return None


def find(pid: int) -> CgroupFiles | None:
    """The counter files of process `pid`'s cgroup, if this process can read them."""
    try:
        files = locate(Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    return files if files is not None and read(files) is not None else None


def read(files: CgroupFiles) -> Counters | None:
    """The counters now; None when the cgroup is gone (the container stopped)."""
    try:
        stat = _fields(files.memory_stat.read_text(encoding="ascii"))
        usage = int(files.memory_usage.read_text(encoding="ascii"))
        if files.unified:
            cpu_ns = _fields(files.cpu.read_text(encoding="ascii"))["usage_usec"] * 1000
            inactive = stat.get("inactive_file", 0)
        else:
            cpu_ns = int(files.cpu.read_text(encoding="ascii"))
            inactive = stat.get("total_inactive_file", 0)
    except (OSError, ValueError, KeyError):
        return None
    return Counters(cpu_ns, max(usage - inactive, 0))


def from_stats(stats: Mapping[str, Any]) -> Counters:
    """The same counters from the Engine API's stats of a container."""
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    memory = stats.get("memory_stats") or {}
    details = memory.get("stats") or {}
    inactive = int(details.get("inactive_file", details.get("total_inactive_file", 0)))
    return Counters(int(cpu.get("total_usage", 0)), max(int(memory.get("usage", 0)) - inactive, 0))


def _fields(text: str) -> dict[str, int]:
    """`name value` lines (memory.stat, cpu.stat) as a mapping."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            fields[name] = int(value)
    return fields
