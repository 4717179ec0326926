"""A keyed work queue with client-go's guarantees, on anyio.

- a key is never handed to two workers at once;
- adds while a key is queued collapse into one entry; adds while it is being processed mark it
  dirty, so exactly one more pass follows (events during a reconcile coalesce);
- failures come back after a per-key exponential backoff with jitter (5 ms doubling to 5 min);
- ``add_after`` schedules a later pass (the periodic resync).

The clock is injected so the unit tests never sleep. A ``QueueObserver`` (the metrics) hears of
adds, delayed adds, time waited and time worked, as client-go's queue metrics do; depth and the age
of keys in flight are read from the queue itself (``depth``, ``in_flight_ages``).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

import anyio

K = TypeVar("K", bound=Hashable)


class QueueObserver(Protocol):
    """What the queue reports as it goes (client-go's queue metrics without depth and unfinished work)."""

    def added(self) -> None:
        """A key entered the queue; adds that collapse into a waiting entry are not reported."""

    def retried(self) -> None:
        """A delayed add was scheduled (a backoff, a Retry-After, a resync after a delay)."""

    def waited(self, seconds: float) -> None:
        """A key was handed out ``seconds`` after the add that queued it."""

    def worked(self, seconds: float) -> None:
        """A key came back ``seconds`` after ``get`` handed it out."""


class _Unobserved:
    """The observer when nobody listens."""

    def added(self) -> None:
        pass

    def retried(self) -> None:
        pass

    def waited(self, seconds: float) -> None:
        pass

    def worked(self, seconds: float) -> None:
        pass


class WorkQueue(Generic[K]):
    """The queue of the module docstring, for tasks of one event loop (no locks: not for threads).

    Only ``get`` waits; every other method returns at once.
    """

    def __init__(
        self,
        *,
        base_delay: float = 0.005,
        max_delay: float = 300.0,
        clock: Callable[[], float] = anyio.current_time,
        observer: QueueObserver | None = None,
    ) -> None:
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: dict[K, float] = {}
        """Keys handed out, with when ``get`` handed each out."""
        self._added: dict[K, float] = {}
        """When each dirty key was first added since it was last handed out (for the time waited)."""
        self._observer: QueueObserver = observer or _Unobserved()
        self._failures: dict[K, int] = {}
        self._delayed: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._wakeup = anyio.Event()
        self._base, self._max = base_delay, max_delay
        self._clock = clock
        self._shut = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def depth(self) -> int:
        """Keys waiting for a pass, those added again while in flight included (client-go's depth)."""
        return len(self._dirty)

    @property
    def in_flight(self) -> int:
        """Keys handed out by ``get`` and not yet ``done``."""
        return len(self._processing)

    def in_flight_ages(self) -> list[float]:
        """Seconds each key in flight has been worked on so far (unfinished work, the longest of it)."""
        now = self._clock()
        return [now - started for started in self._processing.values()]

    @property
    def delayed(self) -> int:
        """Scheduled adds not yet due: backoffs and resyncs."""
        return len(self._delayed)

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is queued already; while a worker holds it, one more pass follows ``done``.

        Ignored after ``shutdown``.
        """
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        self._added.setdefault(key, self._clock())
        self._observer.added()
        if key not in self._processing:
            self._queue.append(key)
            self._wake()

    def add_after(self, key: K, delay: float) -> None:
        """``add`` after ``delay`` seconds (at once when not positive); each call schedules its own add."""
        if self._shut:
            return
        self._observer.retried()
        if delay <= 0:
            self.add(key)
            return
        heapq.heappush(self._delayed, (self._clock() + delay, next(self._seq), key))
        self._wake()

    def add_rate_limited(self, key: K) -> float:
        """Requeue after a failure; returns the delay chosen."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        delay = min(self._base * 2.0**n, self._max)
        delay *= random.uniform(0.8, 1.2)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Clear the key's failures after a success: its next failure backs off from the base delay."""
        self._failures.pop(key, None)

    def retries(self, key: K) -> int:
        """Failures since the key was last forgotten."""
        return self._failures.get(key, 0)

    async def get(self) -> K:
        """The next key ready for work; the caller must call ``done`` with it."""
        while True:
            self._promote_due()
            if self._shut:
                raise anyio.EndOfStream
            if self._queue:
                key = self._queue.popleft()
                now = self._clock()
                self._processing[key] = now
                self._dirty.discard(key)
                self._observer.waited(now - self._added.pop(key, now))
                return key
            event = self._wakeup
            timeout = self._delayed[0][0] - self._clock() if self._delayed else None
            with anyio.move_on_after(timeout):
                await event.wait()

    def done(self, key: K) -> None:
        """Hand back a key from ``get``; if it was added meanwhile, it is queued again, once."""
        started = self._processing.pop(key, None)
        if started is not None:
            self._observer.worked(self._clock() - started)
        if key in self._dirty:
            self._queue.append(key)
            self._wake()

    def shutdown(self) -> None:
        """Stop: waiting and later ``get`` calls raise ``anyio.EndOfStream``, and adds are dropped."""
        self._shut = True
        self._wake()

    def _promote_due(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self.add(key)

    def _wake(self) -> None:
        """Wake every waiter; later waiters wait on a fresh event."""
        self._wakeup.set()
        self._wakeup = anyio.Event()
