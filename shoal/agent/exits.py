"""How an agent words a replica's exit, for every driver: the code, what it means, and the
last lines the replica printed (its output goes with it once the exit is reported, so the
reason is where a person finds why a crash-looping replica crashed).
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

OUTPUT_LINES = 5
OUTPUT_CHARS = 300
_TAIL_BYTES = 4096  # enough for OUTPUT_LINES lines of OUTPUT_CHARS in all


def exit_reason(code: int, *, oom_killed: bool = False, error: str = "", output: str = "") -> str:
    """What a person reads about an exit. A process killed by signal N exits with 128 + N, as
    a shell and Docker report it. The end of `output` follows: at most OUTPUT_CHARS characters
    of its last non-blank lines."""
    reason = f"exited with code {code}"
    if oom_killed:
        reason = f"killed for exceeding its memory limit (exit code {code})"
    elif error:
        reason = f"exited with code {code}: {error}"
    elif code > 128:
        with contextlib.suppress(ValueError):
            reason = f"killed by signal {code - 128} ({signal.Signals(code - 128).name})"
    tail = " | ".join(line.strip() for line in output.strip().splitlines() if line.strip())
    if tail:
        reason += f"; last output: {tail[-OUTPUT_CHARS:]}"
    return reason


def last_output(path: Path, lines: int = OUTPUT_LINES, limit: int = _TAIL_BYTES) -> str:
    """The last `lines` lines of an output file, from at most its last `limit` bytes (a cut
    first line is dropped); "" when there is no file."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - limit))
            end = file.read()
    except OSError:
        return ""
    text = end.decode("utf-8", "replace")
    if len(end) < size:  # the first line is cut: drop it
        text = text.partition("\n")[2]
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""
