"""How an agent words a replica's exit, for every driver: the code, what it means, and the
last lines the replica printed (its output goes with it once the exit is reported, so the
reason is where a person finds why a crash-looping replica crashed).
"""

from __future__ import annotations

import codecs
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
    first line is dropped), without the final newline; "" when there is no file."""
    text, _end = output_tail(path, lines, limit)
    return text.removesuffix("\n")


def output_tail(path: Path, lines: int, limit: int = _TAIL_BYTES) -> tuple[str, int]:
    """The file's last `lines` lines exactly as written (a last line still being written
    included), from at most its last `limit` bytes, and the file's size they end at: a
    follower reads on from there. ("", 0) when there is no file."""
    try:
        with path.open("rb") as file:
            start = max(0, file.seek(0, 2) - limit)
            file.seek(start)
            end = file.read()
    except OSError:
        return "", 0
    # A character still being written stays out, for the follower to read whole.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    kept = decoder.decode(end).splitlines(keepends=True)
    pending = len(decoder.getstate()[0])
    if start > 0 and kept:  # the first line is cut: drop it
        kept = kept[1:]
    return ("".join(kept[-lines:]) if lines > 0 else ""), start + len(end) - pending
