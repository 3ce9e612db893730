"""Fixtures of the tests that drive deployments and images through `cluster.Cluster`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.state import StateStore, open_store
from tests.functions.cluster import Cluster


@pytest.fixture
def cluster_store(tmp_path: Path) -> Iterator[StateStore]:
    """The SQLite store a `cluster` runs on."""
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


@pytest.fixture
def cluster(cluster_store: StateStore) -> Cluster:
    return Cluster(cluster_store)
