"""One owner at a time for a file or folder: an advisory lock on a lock file beside it.

The lock is `flock(2)` (exclusive, non-blocking) on the lock file, held while the file stays
open; the kernel drops it when the owner exits, however it exits (SIGKILL, a crash), so a stale
lock file never blocks a restart. The owner writes its pid into the file, and a refused process
names that pid. Two owners on different machines sharing a network file system are not caught:
`flock` is local on many of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO


class LockHeld(Exception):  # noqa: N818 -- reads as a state, like the log's errors
    """Another process holds the lock; `holder` is its pid as it wrote it, or "" if unknown."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by process {holder or '(unknown)'}")
        self.path = path
        self.holder = holder


class ExclusiveLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, path: Path, file: IO[str]) -> None:
        self.path = path
        self._file: IO[str] | None = file

    @classmethod
    def acquire(cls, path: Path) -> ExclusiveLock:
        """Take the lock at `path` (created if missing) or raise LockHeld at once."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened for appending, so a refused process never empties the holder's pid.
        file = path.open("a+", encoding="ascii")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()
            file.close()
            raise LockHeld(path, holder) from None
        except BaseException:
            file.close()
            raise
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
        return cls(path, file)

    def release(self) -> None:
        """Give the lock up; the file stays (deleting it would race with a new owner)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
