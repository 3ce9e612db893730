"""What happened, read from the broker's event log (`GET /-/events`), and replayed.

The log is the one ordered record of everything every component said, with the broker's
arrival time of each event, so whole-system tests and benchmarks judge the cluster from it
rather than by sampling state: nothing that happened between two samples is missed.

`EventLogReader` pages through the log for the types asked for (each type with its own cursor,
the server filtering), keeping what it read. `replica_history` replays one deployment's replica
events (each listing many replicas: `news_of`) into `shoal.orchestration.rollout.Observation`s,
one per event, for the rollout's own fencepost checker:

- a replica exists from the first `replica.requested` that lists it (deployments wrote its
  record then) until its `replica.stopped` or `replica.lost`;
- it is available from its `replica.started` on; `replica.exited` makes it unavailable;
- from `replica.stop.requested` on it is `stopping`: still counted (it holds its node's
  resources until its agent reports it stopped) but no longer available, as the deployments
  function counts it.

An event reaches the log before any function acts on it, and a function's decision after it
committed, so the replay never shows fewer available or more replicas than the deployments
function believed when it decided: a fencepost broken in the replay was broken by a decision.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from shoal import events
from shoal.orchestration.rollout import Observation, Replica

__all__ = [
    "REPLICA_LIFECYCLE",
    "EventLogReader",
    "LoggedEvent",
    "news_of",
    "replica_history",
    "wait_until",
]

PAGE = 1000
MAX_PAGES_PER_READ = 1000
HTTP_TIMEOUT_SECONDS = 30.0

REPLICA_LIFECYCLE = (
    events.REPLICA_REQUESTED,
    events.REPLICA_STARTED,
    events.REPLICA_EXITED,
    events.REPLICA_STOP_REQUESTED,
    events.REPLICA_STOPPED,
    events.REPLICA_LOST,
)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    arrival: float
    """When the broker accepted it (seconds since the epoch)."""
    type: str
    source: str
    id: str
    subject: str | None
    data: Mapping[str, object]

    @classmethod
    def of(cls, entry: Mapping[str, object]) -> LoggedEvent:
        event = entry["event"]
        assert isinstance(event, Mapping)
        data = event.get("data")
        return cls(
            seq=int(str(entry["seq"])),
            arrival=float(str(entry["arrival"])),
            type=str(event["type"]),
            source=str(event["source"]),
            id=str(event["id"]),
            subject=None if event.get("subject") is None else str(event["subject"]),
            data=data if isinstance(data, Mapping) else {},
        )


class EventLogReader:
    """Reads a broker's log, `types` at a time; what was read stays in `events` (seq order)."""

    def __init__(self, broker_url: str, broker: str = "default/default") -> None:
        self._base = broker_url.rstrip("/")
        self._broker = broker
        self._cursors: dict[str, int] = {}
        self._read: dict[str, list[LoggedEvent]] = {}

    def read(self, types: Iterable[str]) -> list[LoggedEvent]:
        """Read what is new of each type; returns the new events in seq order."""
        fresh: list[LoggedEvent] = []
        for event_type in types:
            fresh += self._read_type(event_type)
        return sorted(fresh, key=lambda event: event.seq)

    def events(self, types: Iterable[str]) -> list[LoggedEvent]:
        """Everything read so far of these types, in seq order, up to where all of them were
        read: a consistent prefix of the log (types are read one after the other)."""
        wanted = list(types)
        upto = min((self._cursors.get(event_type, 0) for event_type in wanted), default=0)
        found = [e for t in wanted for e in self._read.get(t, []) if e.seq <= upto]
        return sorted(found, key=lambda event: event.seq)

    def _read_type(self, event_type: str) -> list[LoggedEvent]:
        fresh: list[LoggedEvent] = []
        after = self._cursors.get(event_type, 0)
        for _page in range(MAX_PAGES_PER_READ):
            query = urllib.parse.urlencode(
                {"broker": self._broker, "after": after, "limit": PAGE, "type": event_type}
            )
            url = f"{self._base}/-/events?{query}"
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as answer:
                body = json.load(answer)
            page = [LoggedEvent.of(entry) for entry in body["events"]]
            fresh += page
            after = int(body["scanned"])
            if len(page) < PAGE:
                break
        self._cursors[event_type] = after
        self._read.setdefault(event_type, []).extend(fresh)
        return fresh


def wait_until(
    reader: EventLogReader,
    types: Sequence[str],
    done: Callable[[list[LoggedEvent]], bool],
    *,
    timeout: float,
    poll: float = 0.2,
) -> bool:
    """Read `types` until `done(all events read of them)` is true; False after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        reader.read(types)
        if done(reader.events(types)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def news_of(event: LoggedEvent, deployment: str | None = None) -> list[Mapping[str, object]]:
    """The entries a replica event lists (`data.replicas`, see `shoal.events`), only those of
    `deployment` when given; none for `replica.requested`, which lists names."""
    if event.type == events.REPLICA_REQUESTED:
        return []
    listed = event.data.get("replicas")
    return [
        entry
        for entry in (listed if isinstance(listed, list) else [])
        if isinstance(entry, Mapping)
        and (deployment is None or entry.get("deployment") == deployment)
    ]


def replica_history(logged: Iterable[LoggedEvent], deployment: str) -> list[Observation]:
    """The replicas of `deployment` after each of its replica events (see the module doc)."""
    replicas: dict[str, Replica] = {}
    gone: set[str] = set()
    history: list[Observation] = []
    for event in logged:
        if event.type == events.REPLICA_REQUESTED:
            if event.data.get("deployment") != deployment:
                continue
            listed = event.data.get("replicas")
            revision = str(event.data.get("revision"))
            for name in listed if isinstance(listed, list) else []:
                if name not in replicas and name not in gone:
                    replicas[name] = Replica(str(name), revision, "pending")
        else:
            news = news_of(event, deployment)
            applied = [_replay(event, str(e.get("replica")), replicas, gone) for e in news]
            if not any(applied):
                continue
        history.append(Observation(event.arrival, tuple(replicas.values())))
    return history


def _replay(event: LoggedEvent, name: str, replicas: dict[str, Replica], gone: set[str]) -> bool:
    """One replica's news from `event` applied to `replicas`; False when it is not news."""
    was = replicas.get(name)
    if was is None:
        return False  # never requested (another deployment's namesake), or gone already
    if event.type in (events.REPLICA_STOPPED, events.REPLICA_LOST):
        del replicas[name]
        gone.add(name)
    elif event.type == events.REPLICA_STOP_REQUESTED:
        replicas[name] = replace(was, phase="stopping", ready_since=None)
    elif was.phase == "stopping":
        return False  # being stopped: its news changes nothing any more
    elif event.type == events.REPLICA_STARTED and was.ready_since is None:
        replicas[name] = replace(was, phase="running", ready_since=event.arrival)
    elif event.type == events.REPLICA_EXITED:
        replicas[name] = replace(was, phase="pending", ready_since=None)
    return True
