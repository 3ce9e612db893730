"""One JSON object per log line: what operators grep and ship to their log stack."""

from __future__ import annotations

import json
import logging
import time

logger = logging.getLogger("local_broker")


def log_json(level: int, message: str, **fields: object) -> None:
    if not logger.isEnabledFor(level):
        return
    record = {"ts": round(time.time(), 3), "level": logging.getLevelName(level), "msg": message}
    record.update(fields)
    logger.log(level, json.dumps(record, default=str, separators=(",", ":")))
