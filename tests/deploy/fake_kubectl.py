"""A kubectl that answers from a table: for the preflight checks and the deploy flow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shoal.deploy.kubectl import REQUEST_TIMEOUT, Completed

Answer = Completed | Callable[[tuple[str, ...]], Completed]


@dataclass
class FakeKubectl:
    """Answers the calls whose leading arguments match a key of `answers` (longest key first);
    any other call fails the test. `calls` records every call."""

    answers: Mapping[tuple[str, ...], Answer]
    installed: bool = True
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def available(self) -> bool:
        return self.installed

    def run(self, *args: str) -> Completed:
        self.calls.append(args)
        significant = tuple(a for a in args if a != REQUEST_TIMEOUT)
        for key in sorted(self.answers, key=len, reverse=True):
            if significant[: len(key)] == key:
                answer = self.answers[key]
                return answer(args) if callable(answer) else answer
        raise AssertionError(f"unexpected kubectl call: {args}")


OK = Completed(0)
NOT_FOUND = Completed(1, stderr='Error from server (NotFound): secrets "shoal-state" not found')
CONNECTION_REFUSED = Completed(
    1,
    stderr="The connection to the server 127.0.0.1:6443 was refused - did you specify the "
    "right host or port?",
)
