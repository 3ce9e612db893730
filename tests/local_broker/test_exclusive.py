"""The one-owner lock: refused while held (naming the holder), free once released or dead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from local_broker.exclusive import ExclusiveLock, LockHeld

HOLD = """
import sys, time
from pathlib import Path
from local_broker.exclusive import ExclusiveLock
lock = ExclusiveLock.acquire(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(60)
"""
ROOT = Path(__file__).resolve().parents[2]


def test_a_held_lock_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.lock"
    lock = ExclusiveLock.acquire(path)
    assert path.read_text() == f"{os.getpid()}\n"

    with pytest.raises(LockHeld) as refused:
        ExclusiveLock.acquire(path)
    assert refused.value.holder == str(os.getpid())
    assert str(refused.value) == f"{path} is locked by process {os.getpid()}"
    assert path.read_text() == f"{os.getpid()}\n"  # the refused attempt left it alone

    lock.release()
    lock.release()  # twice is harmless
    again = ExclusiveLock.acquire(path)
    again.release()


def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LockHeld) as refused:
            ExclusiveLock.acquire(path)
        assert refused.value.holder == str(holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

    lock = ExclusiveLock.acquire(path)  # the kernel dropped the dead process's lock
    assert path.read_text() == f"{os.getpid()}\n"
    lock.release()
