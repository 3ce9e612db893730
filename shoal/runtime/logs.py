"""JSON log lines for functions: one line per record, fields next to the message.

Functions log through `ctx.log` (a `FunctionLogger` bound to the function and the event being
handled); the runtime reports handler failures the same way. Records go to the
`shoal.functions` logger, which `configure_logging` (called once per process by the HTTP
adapter) points at stderr, where Knative and `shoal up` collect them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

ROOT_LOGGER = "shoal.functions"
_FIELDS = "shoal_fields"


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(stream: TextIO = sys.stderr, level: int = logging.INFO) -> None:
    """Send `shoal.functions` records to `stream` as JSON lines (idempotent)."""
    logger = logging.getLogger(ROOT_LOGGER)
    if any(isinstance(handler.formatter, JsonLineFormatter) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


class FunctionLogger:
    """`log.info("placed", node="n1")` -> one JSON line with the bound fields and `node`."""

    __slots__ = ("_bound", "_logger")

    def __init__(self, function: str) -> None:
        self._logger = logging.getLogger(f"{ROOT_LOGGER}.{function}")
        self._bound: Mapping[str, object] = {"function": function}

    def bind(self, **fields: object) -> FunctionLogger:
        """A logger that adds `fields` to every line."""
        bound = object.__new__(FunctionLogger)  # every invocation binds: skip getLogger
        bound._logger = self._logger
        bound._bound = {**self._bound, **fields}
        return bound

    def info(self, message: str, **fields: object) -> None:
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, **fields: object) -> None:
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, **fields: object) -> None:
        self._log(logging.ERROR, message, fields)

    def _log(self, level: int, message: str, fields: dict[str, object]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, message, extra={_FIELDS: {**self._bound, **fields}})
