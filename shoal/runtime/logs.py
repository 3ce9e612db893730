"""JSON log lines for functions: one line per record, fields next to the message.

Functions log through `ctx.log` (a `FunctionLogger` bound to the function and the event being
handled); the runtime reports handler failures the same way. Records go to the
`shoal.functions` logger, which `configure_logging` (called once per process by the HTTP
adapter) points at stderr, where Knative and `shoal up` collect them.

`configure_logging` makes every other record of the process a JSON line too, so that a log
collector never sees a line it cannot parse: libraries' records (psycopg_pool's warnings),
Flask's "Exception on /" with its traceback, warnings (`logging.captureWarnings`). It puts a JSON
handler on the root logger, and gives the console handlers other loggers already have (gunicorn's
error log, Flask's default handler) the JSON format; a root logger that has a console
handler already (functions-framework's, with `LOG_EXECUTION_ID`) keeps it, in JSON, and gets no
second one. Such a line names its `logger`; an
exception is the field `exception` (its traceback, newlines escaped as JSON escapes them).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

ROOT_LOGGER = "shoal.functions"
_FIELDS = "shoal_fields"
# What JSON leaves unescaped but breaks a line for some readers (U+0085, U+2028 and U+2029 are
# line boundaries to Python's `str.splitlines`) or cannot be written as UTF-8 (lone surrogates,
# which would make the handler print a multi-line "Logging error" instead): escaped as \uXXXX.
_UNSAFE_IN_LINE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, None)
        if fields is None:  # a record from outside the function runtime
            line["logger"] = record.name
        else:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        text = json.dumps(line, default=str, ensure_ascii=False)
        return text if text.isascii() else _UNSAFE_IN_LINE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def configure_logging(stream: TextIO = sys.stderr, level: int = logging.INFO) -> None:
    """Send `shoal.functions` records (from `level` up) and every other record the process logs
    to `stream`, each as one JSON line (idempotent)."""
    logger = logging.getLogger(ROOT_LOGGER)
    if not any(isinstance(handler.formatter, JsonLineFormatter) for handler in logger.handlers):
        logger.addHandler(_json_handler(stream))
        logger.setLevel(level)
        logger.propagate = False
    root = logging.getLogger()
    _format_console_handlers(root)
    if not any(_is_console(handler) for handler in root.handlers):
        root.addHandler(_json_handler(stream))
    logging.captureWarnings(True)


def _json_handler(stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    return handler


def _is_console(handler: logging.Handler) -> bool:
    return type(handler) is logging.StreamHandler


def _format_console_handlers(root: logging.Logger) -> None:
    """Give plain console handlers that loggers already hold (exactly `logging.StreamHandler`:
    gunicorn's, Flask's default) the JSON format; file and capturing handlers are left alone."""
    loggers = [root, *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if _is_console(handler) and not isinstance(handler.formatter, JsonLineFormatter):
                handler.setFormatter(JsonLineFormatter())


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
