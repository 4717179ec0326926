"""The work queue's guarantees, with a fake clock: no sleeping, no flakes.

"Nothing is handed out" is checked without waiting for a timeout: a ``get()`` runs until every task is
blocked (anyio.wait_all_tasks_blocked), and must then still be waiting.
"""

from __future__ import annotations

import anyio
import pytest

from cloudpods_operator.workqueue import WorkQueue


class Clock:
    """A fake clock for the queue's delays: stands still until a test moves ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _get_now(q: WorkQueue[str]) -> str | None:
    """The key ``get()`` hands out before it would have to wait, or None when it blocks."""
    got: list[str] = []

    async def take() -> None:
        got.append(await q.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    return got[0] if got else None


@pytest.mark.anyio
async def test_adds_of_a_queued_key_collapse() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert await _get_now(q) is None


@pytest.mark.anyio
async def test_a_key_in_progress_is_not_handed_out_and_gets_exactly_one_more_pass() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert await _get_now(q) is None  # never to two workers at once
    q.done(key)
    assert await _get_now(q) == "a"
    q.done("a")
    assert await _get_now(q) is None


@pytest.mark.anyio
async def test_the_blocking_check_sees_a_key_handed_out() -> None:
    """_get_now can fail: it returns a ready key, including one that becomes ready while get() waits."""
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await _get_now(q) == "a"
    got: list[str] = []

    async def take() -> None:
        got.append(await q.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        q.add("b")
    assert got == ["b"]


@pytest.mark.anyio
async def test_failures_back_off_exponentially_and_forget_resets() -> None:
    clock = Clock()
    q: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=8.0, clock=clock)
    delays = [q.add_rate_limited("a") for _ in range(6)]
    assert all(lo * 0.8 <= d <= lo * 1.2 for d, lo in zip(delays[:4], (1, 2, 4, 8), strict=True))
    assert max(delays) <= 8.0 * 1.2
    assert q.retries("a") == 6
    q.forget("a")
    assert q.retries("a") == 0


@pytest.mark.anyio
async def test_add_after_releases_the_key_when_due() -> None:
    clock = Clock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 30)
    assert q.delayed == 1
    assert await _get_now(q) is None
    clock.now += 29.9
    assert await _get_now(q) is None
    clock.now += 0.2
    assert await _get_now(q) == "a"
    assert q.delayed == 0


@pytest.mark.anyio
async def test_waiting_workers_all_wake_and_shutdown_ends_them() -> None:
    q: WorkQueue[str] = WorkQueue()
    got: list[str] = []
    waiting = 0
    ended = 0

    async def worker() -> None:
        nonlocal waiting, ended
        while True:
            waiting += 1
            try:
                key = await q.get()
            except anyio.EndOfStream:
                ended += 1
                return
            finally:
                waiting -= 1
            got.append(key)
            q.done(key)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker)
        await anyio.wait_all_tasks_blocked()
        assert waiting == 3 and got == []  # every worker is blocked in get()
        for key in ("a", "b", "c"):
            q.add(key)
        await anyio.wait_all_tasks_blocked()
        assert sorted(got) == ["a", "b", "c"] and q.in_flight == 0
        assert waiting == 3  # all back in get(), none lost
        q.shutdown()
    assert sorted(got) == ["a", "b", "c"]
    assert ended == 3
