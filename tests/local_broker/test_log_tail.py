"""The in-memory tail of the log: which reads it can serve, and that it never serves a gap."""

from __future__ import annotations

import pytest

from local_broker.event import CloudEvent
from local_broker.logschema import LogRecord
from local_broker.logtail import MemoryTail


def records(*seqs: int) -> list[LogRecord]:
    return [
        LogRecord(seq, CloudEvent({"id": str(seq), "source": "/s", "type": "t"}), 0.0)
        for seq in seqs
    ]


def seqs(found: list[LogRecord] | None) -> list[int] | None:
    return None if found is None else [record.seq for record in found]


def test_serves_what_it_holds_and_refuses_older() -> None:
    tail = MemoryTail(4, head=10)
    assert seqs(tail.read_after(10, 5)) == []  # nothing beyond the head
    assert seqs(tail.read_after(9, 5)) is None  # 10 was committed before the tail existed
    tail.publish(records(11, 12, 13))
    assert seqs(tail.read_after(10, 5)) == [11, 12, 13]
    assert seqs(tail.read_after(11, 1)) == [12]
    tail.publish(records(14, 15, 16))
    assert tail.head == 16
    assert seqs(tail.read_after(11, 2)) is None  # 12 was overwritten by 16
    assert seqs(tail.read_after(12, 10)) == [13, 14, 15, 16]
    assert seqs(tail.read_after(12, 0)) == []


def test_a_gap_resets_what_it_holds() -> None:
    tail = MemoryTail(8, head=0)
    tail.publish(records(1, 2))
    tail.publish(records(5, 6))  # never happens in the log; must not serve 3 and 4 as if held
    assert seqs(tail.read_after(2, 10)) is None
    assert seqs(tail.read_after(4, 10)) == [5, 6]


def test_zero_capacity_only_tracks_the_head() -> None:
    tail = MemoryTail(0, head=3)
    tail.publish(records(4))
    assert tail.head == 4
    assert tail.read_after(3, 1) is None
    assert seqs(tail.read_after(4, 1)) == []
    with pytest.raises(ValueError, match="memory_tail"):
        MemoryTail(-1, head=0)


def test_the_records_it_holds_are_bounded_in_bytes_too() -> None:
    # 8,192 events of up to 1 MiB each would be 8 GiB: the oldest go early past `max_bytes`.
    tail = MemoryTail(100, head=0, max_bytes=10_000)
    big = [
        LogRecord(seq, CloudEvent({"id": str(seq), "source": "/s", "type": "t"}, b"x" * 3000), 0.0)
        for seq in range(1, 6)
    ]
    tail.publish(big[:2])
    assert seqs(tail.read_after(0, 10)) == [1, 2]
    tail.publish(big[2:])  # five records of about 3.5 kB: only the newest two fit in 10 kB
    assert seqs(tail.read_after(0, 10)) is None
    assert seqs(tail.read_after(2, 10)) is None
    assert seqs(tail.read_after(3, 10)) == [4, 5]
    tail.publish(records(6, 7, 8))  # small ones: room again, nothing older comes back
    assert seqs(tail.read_after(3, 10)) == [4, 5, 6, 7, 8]


def test_without_capacity_it_follows_the_head_and_serves_nothing() -> None:
    tail = MemoryTail(0, head=3)
    tail.move_head(9)
    tail.move_head(7)  # a late notice never moves it back
    assert tail.head == 9
    assert seqs(tail.read_after(9, 5)) == []
    assert seqs(tail.read_after(8, 5)) is None  # read it from SQLite
