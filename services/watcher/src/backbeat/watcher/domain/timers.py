"""A timer heap keyed by user: one pending due time per key, the earliest first.

Rescheduling a key replaces its timer; the superseded heap entry is skipped when it surfaces
(lazy deletion), and the heap is rebuilt when stale entries outnumber live ones.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

K = TypeVar("K")


class TimerHeap(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def due_of(self, key: K) -> float | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def schedule(self, key: K, due: float) -> None:
        """Set ``key``'s one timer to ``due``, replacing any earlier one."""
        token = next(self._counter)
        self._live[key] = (due, token)
        heapq.heappush(self._heap, (due, token, key))
        if len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [(d, t, k) for k, (d, t) in self._live.items()]
            heapq.heapify(self._heap)

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != (heap[0][0], heap[0][1]):
            heapq.heappop(heap)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, limit: int | None = None) -> list[tuple[K, float]]:
        """Remove and return the timers due at ``now``, earliest first."""
        due: list[tuple[K, float]] = []
        while limit is None or len(due) < limit:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            when, _, key = heapq.heappop(self._heap)
            del self._live[key]
            due.append((key, when))
        return due
