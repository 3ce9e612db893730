"""The Triggers' positions in a log, held in memory and flushed now and then.

A position changes with every delivery; writing each change would cost a transaction per event,
so the book remembers what changed (`move`, `forget`) and hands it over in one piece (`take`).
If writing that piece fails, `give_back` marks it changed again for the next flush, unless the
position moved or came back meanwhile. Used by the log's owner (`EventLog`) and by the delivery
process's view of it (`DeliveryLog`).
"""

from __future__ import annotations

from collections.abc import Mapping


class CursorBook:
    def __init__(self, positions: Mapping[str, int]) -> None:
        self._positions = dict(positions)
        self._dirty: set[str] = set()  # changed since the last take
        self._forgotten: set[str] = set()  # to delete at the next flush

    def get(self, trigger_key: str) -> int | None:
        return self._positions.get(trigger_key)

    def positions(self) -> dict[str, int]:
        """Every position (a copy)."""
        return dict(self._positions)

    def move(self, trigger_key: str, seq: int) -> None:
        self._positions[trigger_key] = seq
        self._dirty.add(trigger_key)
        self._forgotten.discard(trigger_key)

    def forget(self, trigger_key: str) -> None:
        if self._positions.pop(trigger_key, None) is not None:
            self._forgotten.add(trigger_key)
        self._dirty.discard(trigger_key)

    def changed(self) -> bool:
        return bool(self._dirty or self._forgotten)

    def take(self) -> tuple[dict[str, int], set[str]]:
        """What changed since the last take: (positions to write, triggers to delete)."""
        positions = {key: self._positions[key] for key in self._dirty}
        forgotten = set(self._forgotten)
        self._dirty.clear()
        self._forgotten.clear()
        return positions, forgotten

    def give_back(self, positions: Mapping[str, int], forgotten: set[str]) -> None:
        """A `take` that was not written: mark it changed again for the next flush."""
        self._dirty.update(key for key in positions if key in self._positions)
        self._forgotten.update(key for key in forgotten if key not in self._positions)
