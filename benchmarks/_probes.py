"""What benchmarks/orchestration.py reads beside the event log: the platform's state (a read-only
SQLite connection) and each component's CPU (from /proc)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from functions.audit import entry_suffix
from shoal.model import DEPLOYMENT, LEASE, DeploymentRecord, LeaseRecord
from shoal.platform.eventlog import LoggedEvent
from shoal.platform.harness import RunningPlatform
from shoal.runtime.settings import STATE_FILE

AUDIT_KIND = "AuditEntry"


class StateProbe:
    """Reads the platform's SQLite state through a read-only connection. Not through the
    store's transactions: those take the write lock (BEGIN IMMEDIATE) and would queue behind,
    and hold up, the functions being measured; in WAL mode a reader does neither. It reads the
    `resources` table of `shoal.state` directly (fine for a benchmark, not for a client)."""

    def __init__(self, platform: RunningPlatform) -> None:
        path = platform.data_dir / STATE_FILE
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    def _bodies(self, kind: str, name: str | None = None) -> list[dict[str, object]]:
        sql, params = "SELECT body FROM resources WHERE kind = ?", [kind]
        if name is not None:
            sql, params = f"{sql} AND name = ?", [kind, name]
        return [json.loads(body) for (body,) in self._db.execute(sql, params)]

    def ready(self, name: str) -> int:
        found = self._bodies(DEPLOYMENT, name)
        return DeploymentRecord.from_body(found[0]).ready if found else 0

    def audited(self, event: LoggedEvent) -> bool:
        """Whether audit recorded `event`: its entry's name ends with the hash of its source
        and id (`functions.audit.entry_name`)."""
        suffix = entry_suffix(event.source, event.id)
        rows = self._db.execute(
            "SELECT 1 FROM resources WHERE kind = ? AND name LIKE ?", (AUDIT_KIND, f"%-{suffix}")
        )
        return rows.fetchone() is not None

    def heartbeat_lag(self) -> float:
        """Seconds since the heartbeat of the median ready node that nodes recorded last: how
        far nodes is behind the heartbeats (plus up to one interval)."""
        leases = [LeaseRecord.from_body(body) for body in self._bodies(LEASE)]
        beats = sorted(lease.renewed_at for lease in leases if not lease.expired)
        return time.time() - beats[len(beats) // 2] if beats else 0.0

    def close(self) -> None:
        self._db.close()


class CpuMeter:
    """CPU seconds (user + system) each component has used so far, from /proc: the processes
    below each root (`shoal up`, each agent); a function's processes go by their
    FUNCTION_TARGET, what is left of `shoal up` is the broker (it runs in that process)."""

    def __init__(self) -> None:
        self.roots: dict[int, str] = {}
        self._tick = os.sysconf("SC_CLK_TCK")

    def used(self) -> dict[str, float]:
        parents: dict[int, int] = {}
        spent: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry.name)] = int(fields[1])
                spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self._tick
        used: dict[str, float] = {}
        for pid, cpu in spent.items():
            name = self._component(pid, parents)
            if name is not None:
                used[name] = used.get(name, 0.0) + cpu
        return used

    def _component(self, pid: int, parents: Mapping[int, int]) -> str | None:
        ancestor = pid
        for _depth in range(16):
            if ancestor in self.roots:
                root = self.roots[ancestor]
                return root if ancestor == pid else _function_of(pid) or root
            ancestor = parents.get(ancestor, 0)
            if ancestor <= 1:
                return None
        return None


def _function_of(pid: int) -> str | None:
    try:
        environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"FUNCTION_TARGET="):
            return entry.split(b"=", 1)[1].decode()
    return None


def cpu_between(before: Mapping[str, float], after: Mapping[str, float]) -> str:
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    ranked = sorted(spent.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {cpu:.0f}" for name, cpu in ranked if cpu >= 0.5)
