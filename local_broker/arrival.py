"""`knativearrivaltime` for each event the ingress accepts, the same text `stamping.rfc3339`
gives, made cheaply: compiled with the hot path (native.py), apart from `stamping`, which
tells int from bool and so stays Python."""

from __future__ import annotations

import math
from datetime import UTC, datetime


class ArrivalClock:
    """`knativearrivaltime` values for POSIX times: the same text as `rfc3339` of the datetime,
    with the date and time of day formatted once per second (each event needs one)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self, now: float) -> str:
        second = math.floor(now)
        micros = round((now - second) * 1_000_000)
        if micros == 1_000_000:
            second, micros = second + 1, 0
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{micros:06d}Z"
