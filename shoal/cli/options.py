"""Option parsing shared by subcommands: `NAME=VALUE` pairs and environment fallbacks."""

from __future__ import annotations

import argparse
import os

DEFAULT_BROKER_URL = "http://127.0.0.1:8080/default/default"


def key_value(text: str) -> tuple[str, str]:
    """argparse type for `NAME=VALUE`."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def broker_url_default() -> str:
    return os.environ.get("SHOAL_BROKER_URL", DEFAULT_BROKER_URL)
