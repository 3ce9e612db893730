"""kubectl, the one external program `shoal deploy` runs, behind a narrow interface.

`Kubectl.run(*args)` runs `kubectl ARGS` and gives back its exit status and output; everything
that decides (the preflight checks, the deploy flow) takes any `Kubectl`, so tests hand it a
fake. `KubectlProgram` is the real one: one subprocess per call, with a time limit, so an API
server that does not answer cannot hang a deploy.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

# For every call that talks to the API server: a cluster that does not answer is reported soon.
REQUEST_TIMEOUT = "--request-timeout=15s"


@dataclass(frozen=True, slots=True)
class Completed:
    """What a kubectl run gave back."""

    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def reason(self) -> str:
        """kubectl's own explanation of a failure: its last non-empty error line."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"kubectl exited with status {self.returncode}"


class Kubectl(Protocol):
    def available(self) -> bool:
        """Whether the program can be run at all."""
        ...

    def run(self, *args: str) -> Completed: ...


@dataclass(frozen=True, slots=True)
class KubectlProgram:
    """The kubectl on PATH (or at `program`)."""

    program: str = "kubectl"
    timeout_seconds: float = 300.0

    def available(self) -> bool:
        return shutil.which(self.program) is not None

    def run(self, *args: str) -> Completed:
        try:
            done = subprocess.run(
                [self.program, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout_seconds,
                check=False,
            )
        except FileNotFoundError:
            return Completed(127, stderr=f"{self.program}: no such program")
        except subprocess.TimeoutExpired:
            command = " ".join(["kubectl", *args])
            return Completed(124, stderr=f"`{command}` ran longer than {self.timeout_seconds:g} s")
        return Completed(done.returncode, done.stdout, done.stderr)
