"""Fixtures for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shoal.runtime.logs import ROOT_LOGGER


@pytest.fixture(autouse=True)
def restored_function_logging() -> Iterator[None]:
    """The runtime configures `shoal.functions` logging once per process (functions-framework
    apps made in a test do it): each test gets that logger back as it found it."""
    logger = logging.getLogger(ROOT_LOGGER)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved
