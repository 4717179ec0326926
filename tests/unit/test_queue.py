"""The work queue's guarantees, with a fake clock: no sleeping, no flakes."""

from __future__ import annotations

import anyio
import pytest

from cloudpods_operator.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _get_now(q: WorkQueue[str]) -> str | None:
    with anyio.move_on_after(0.05):
        return await q.get()
    return None


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
    assert await q.get() == "a"
    q.done("a")
    assert await _get_now(q) is None


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
    assert await _get_now(q) is None
    clock.now += 31
    assert await q.get() == "a"


@pytest.mark.anyio
async def test_waiting_workers_all_wake_and_shutdown_ends_them() -> None:
    q: WorkQueue[str] = WorkQueue()
    got: list[str] = []
    ended = 0

    async def worker() -> None:
        nonlocal ended
        while True:
            try:
                key = await q.get()
            except anyio.EndOfStream:
                ended += 1
                return
            got.append(key)
            q.done(key)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker)
        await anyio.sleep(0.01)
        for key in ("a", "b", "c"):
            q.add(key)
        await anyio.sleep(0.01)
        q.shutdown()
    assert sorted(got) == ["a", "b", "c"]
    assert ended == 3


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
