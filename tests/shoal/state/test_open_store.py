"""`open_store`: which URLs it accepts, and what it says about the ones it cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.state import InvalidStateURL, StoreUnavailable, open_store


@pytest.mark.parametrize(
    "url",
    [
        "",
        "state.db",
        "mysql://shoal@db/shoal",
        "file:///var/lib/shoal/state.db",
        "sqlite:",
        "sqlite:/state.db",
        "sqlite://host/state.db",
        "sqlite:///",
    ],
)
def test_urls_it_cannot_use_are_refused_with_the_accepted_forms(url: str) -> None:
    with pytest.raises(InvalidStateURL) as raised:
        open_store(url)
    message = str(raised.value)
    assert "sqlite:///relative/path.db" in message
    assert "sqlite:////absolute/path.db" in message
    assert "postgresql://user@host:5432/dbname" in message


def test_in_memory_sqlite_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidStateURL, match=r"in-memory SQLite .*\(each connection"):
        open_store("sqlite:///:memory:")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://shoal:s3cr%zzet@db/shoal",
        "postgresql://shoal:s3cr et@db/shoal",
        "postgres://shoal:s3cret@db/shoal?no_such_option=1",
    ],
)
def test_malformed_postgres_urls_are_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(InvalidStateURL, match="malformed PostgreSQL URL") as raised:
        open_store(url)
    assert "s3cr" not in str(raised.value)


def test_sqlite_paths_after_three_slashes_are_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///relative.db").close()
    open_store(f"sqlite:///{tmp_path / 'absolute.db'}").close()
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["absolute.db", "relative.db"]


def test_a_sqlite_file_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="missing"):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'state.db'}")


def test_an_unreachable_postgres_is_unavailable() -> None:
    # Port 1 on the loopback interface refuses connections at once.
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1.*refused"):
        open_store("postgresql://shoal:s3cret@127.0.0.1:1/shoal")


@pytest.mark.parametrize(
    ("query", "level"), [("", 1), ("?synchronous=normal", 1), ("?synchronous=FULL", 2)]
)
def test_sqlite_synchronous_option_sets_the_pragma(tmp_path: Path, query: str, level: int) -> None:
    store = open_store(f"sqlite:///{tmp_path}/state.db{query}")
    try:
        with store.transaction() as tx:
            tx.put("Probe", "p", {"ok": True})
        # SQLite's numbering: 1 is NORMAL, 2 is FULL (PRAGMA synchronous).
        connection = store._checkout()  # type: ignore[attr-defined]
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == level
        store._checkin(connection)  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize("query", ["?synchronous=off", "?journal=wal", "?synchronous=full&x=1"])
def test_unknown_sqlite_options_are_refused(tmp_path: Path, query: str) -> None:
    with pytest.raises(InvalidStateURL, match=r"synchronous=normal\|full"):
        open_store(f"sqlite:///{tmp_path}/state.db{query}")
