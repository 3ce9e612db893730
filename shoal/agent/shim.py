"""`python shim.py EXIT_FILE -- COMMAND [ARG...]`: run COMMAND, then record its exit status.

The exec driver starts every replica through this shim, like containerd's shim or conmon: a
process's exit status is told only to its parent, and the agent may be killed and restarted
while its replicas run on. The shim stays the replica's parent and writes the status to
EXIT_FILE (atomically), where the next agent process finds it. The shim leads the replica's
process group, so stopping the group stops both; a signal sent to the shim alone is passed on.

Exit status: the command's own, 128 + N when signal N ended it, 127 when it was not found,
126 when it could not be run. Standard library only: the driver runs this file directly with
`python -I -S`, which starts faster and needs no installed package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

NOT_FOUND = 127
CANNOT_RUN = 126
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def record(exit_file: str, status: int) -> None:
    partial = f"{exit_file}.partial"
    with open(partial, "w", encoding="ascii") as out:
        out.write(f"{status}\n")
    os.replace(partial, exit_file)


def run(exit_file: str, command: list[str]) -> int:
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child is not None:
            child.send_signal(signum)

    # A Python handler (not SIG_IGN) keeps the shim alive to record the status, and is reset to
    # the default in the command by exec, so the command still dies of these signals.
    for signum in FORWARDED:
        signal.signal(signum, forward)
    try:
        child = subprocess.Popen(command)
    except FileNotFoundError:
        status = NOT_FOUND
    except OSError:
        status = CANNOT_RUN
    else:
        code = child.wait()
        status = 128 - code if code < 0 else code
    record(exit_file, status)
    return status


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: shim.py EXIT_FILE -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    return run(argv[0], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
