"""Reading processes from Linux's /proc (proc(5)): identity, cpu time and memory.

A pid alone does not name a process for long: once it exits, the kernel may give the pid to
another. The start time (field 22 of /proc/PID/stat, in clock ticks since boot) does not
change for a process's life, so (pid, start ticks) does name one.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLOCK_TICKS", "PAGE_SIZE", "ProcessStat", "group_totals", "parse_stat", "read_stat"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessStat:
    pid: int
    state: str
    process_group: int
    cpu_ticks: int
    """User plus system time, in clock ticks."""
    start_ticks: int
    rss_pages: int

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def parse_stat(text: str) -> ProcessStat:
    """Parse /proc/PID/stat. The command name (field 2) may hold spaces and parentheses, so the
    fields are counted from its closing parenthesis, the last one on the line."""
    pid = int(text[: text.index("(")])
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): field N is fields[N - 3].
    return ProcessStat(
        pid=pid,
        state=fields[0],
        process_group=int(fields[2]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_ticks=int(fields[19]),
        rss_pages=int(fields[21]),
    )


def read_stat(pid: int, proc: Path = PROC) -> ProcessStat | None:
    """The process's stat, or None when there is no such process (any more)."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def group_totals(groups: Collection[int], proc: Path = PROC) -> dict[int, tuple[int, int]]:
    """(cpu ticks, rss pages) summed over the members of each process group, leaving out the
    group leader itself (for the exec driver, the shim: overhead, not the replica's work)."""
    totals = dict.fromkeys(groups, (0, 0))
    if not totals:
        return totals
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name), proc)
        if stat is None or stat.process_group not in totals or stat.pid == stat.process_group:
            continue
        ticks, pages = totals[stat.process_group]
        totals[stat.process_group] = (ticks + stat.cpu_ticks, pages + stat.rss_pages)
    return totals
