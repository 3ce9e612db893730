"""Resource quantities as users write them, reduced to the integers the scheduler adds up.

CPU becomes millicores and memory becomes MiB. The accepted spellings are Kubernetes'
(https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#resource-units-in-kubernetes):
CPU is cores ("2", "0.5") or millicores ("100m"), at most 1m precise; memory is bytes
with a binary ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei") or decimal ("k", "M", "G", "T", "P", "E")
suffix. Memory is rounded *up* to whole MiB so a replica never reserves less than it asked for.
Arithmetic is exact (fractions), so "0.1" is 100m and never 99m.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Percent", "QuantityError", "parse_cpu", "parse_memory"]

_MIB = 2**20
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
# "64m", "1gb", "512MiB": spellings from other tools that mean the binary unit.
_LOOKALIKE = re.compile(r"([kmgtpe])(?:i|b|ib)?", re.IGNORECASE)
_NUMBER = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[A-Za-z]*)")

_CPU_HINT = 'write cores like "0.5" or "2", or millicores like "100m"'
_MEMORY_HINT = 'write bytes with a suffix like "64Mi", "1Gi" or "500M"'


class QuantityError(ValueError):
    """A quantity that cannot be read; the message says what to write instead."""


@dataclass(frozen=True)
class Percent:
    """A share of the desired replicas, as in `maxSurge: 25%`."""

    value: int

    def __str__(self) -> str:
        return f"{self.value}%"


def parse_cpu(value: object) -> int:
    """CPU in millicores: "100m" -> 100, "0.5" -> 500, "2" -> 2000, 2 -> 2000."""
    number, suffix = _split(value, _CPU_HINT)
    if suffix == "m":
        millis = number
    elif suffix == "":
        millis = number * 1000
    else:
        raise QuantityError(f"{value!r} has an unknown CPU unit {suffix!r}; {_CPU_HINT}")
    if millis.denominator != 1:
        raise QuantityError(
            f"{value!r} is finer than 1 millicore; round it to whole millicores, "
            f'e.g. "{max(1, round(millis))}m"'
        )
    return int(millis)


def parse_memory(value: object) -> int:
    """Memory in MiB, rounded up: "64Mi" -> 64, "1Gi" -> 1024, "500M" -> 477."""
    number, suffix = _split(value, _MEMORY_HINT)
    scale = _BINARY.get(suffix) or _DECIMAL.get(suffix)
    if scale is None:
        guess = _LOOKALIKE.fullmatch(suffix)
        hint = f'did you mean "{guess[1].upper()}i"?' if guess else _MEMORY_HINT
        raise QuantityError(f"{value!r} has an unknown memory unit {suffix!r}; {hint}")
    mib = number * scale / _MIB
    return -(-mib.numerator // mib.denominator)  # ceiling without floats


def _split(value: object, hint: str) -> tuple[Fraction, str]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise QuantityError(f"{value!r} is not a quantity; {hint}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if text.startswith("-"):
        raise QuantityError(f"{value!r} is negative; {hint}")
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise QuantityError(f"{value!r} is not a quantity; {hint}")
    return Fraction(match["number"]), match["suffix"]
