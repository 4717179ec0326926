"""heap.QuietTrim: one trim per quiet spell after work, none during a burst, none while a pass is queued.

The quiet time itself is what is under test, so these tests let real time pass (tenths of a second); each
waits on the trim it expects, or on the trimmer parked waiting for work, as a condition.
"""

from __future__ import annotations

import anyio
import pytest

from cloudpods_operator import heap

QUIET = 0.1


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.called = anyio.Event()

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        self.called.set()
        self.called = anyio.Event()
        return 1


async def _parked(trim: heap.QuietTrim) -> None:
    """Until the trimmer waits for work with nothing pending."""
    with anyio.fail_after(5):
        await trim.parked.wait()


async def _called(rec: Recorder) -> None:
    """Until the recorder's next call."""
    with anyio.fail_after(5):
        await rec.called.wait()


async def _first_work(trim: heap.QuietTrim, rec: Recorder) -> None:
    """Nothing is called before any work; then one pass, and its quiet spell's call."""
    await _parked(trim)
    assert rec.calls == [], "called before any work"
    trim.worked()
    await _called(rec)


async def _run(trim: heap.QuietTrim, body: object) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(trim.run)
        await body  # type: ignore[misc]
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_no_work_no_trim_then_one_trim_per_quiet_spell() -> None:
    rec = Recorder()
    trim = heap.QuietTrim(rec, idle=lambda: True, quiet=QUIET)

    async def body() -> None:
        await _first_work(trim, rec)
        assert rec.calls == [0]
        await _parked(trim)
        assert rec.calls == [0], "trimmed again without more work"
        trim.worked()
        await _called(rec)
        assert rec.calls == [0, 0]

    await _run(trim, body())


@pytest.mark.anyio
async def test_a_burst_defers_the_trim_until_it_ends() -> None:
    rec = Recorder()
    trim = heap.QuietTrim(rec, idle=lambda: True, quiet=1.0)

    async def body() -> None:
        started = anyio.current_time()
        while anyio.current_time() - started < 2.0:  # passes every 50 ms for 2 s: never 1 s quiet
            trim.worked()
            await anyio.sleep(0.05)  # the pace of the passes is what is under test
            assert rec.calls == [], "trimmed during a burst"
        await _called(rec)
        assert anyio.current_time() - started >= 3.0 - 0.05
        assert trim.trims == 1

    await _run(trim, body())


@pytest.mark.anyio
async def test_no_trim_while_a_pass_is_queued() -> None:
    rec = Recorder()
    busy = True
    trim = heap.QuietTrim(rec, idle=lambda: not busy, quiet=QUIET)

    async def body() -> None:
        nonlocal busy
        trim.worked()
        await _parked(trim)  # the quiet spell ended with a pass queued: back to waiting, untrimmed
        assert rec.calls == [], "trimmed while a pass was queued"
        busy = False
        trim.worked()  # that pass ended
        await _called(rec)
        assert rec.calls == [0]

    await _run(trim, body())


@pytest.mark.anyio
async def test_without_malloc_trim_it_returns_at_once() -> None:
    trim = heap.QuietTrim(None, idle=lambda: True, quiet=QUIET)
    with anyio.fail_after(1):
        await trim.run()


def test_glibc_has_malloc_trim() -> None:
    """This machine's C library is glibc (as the image's): the trim is found, and trimming answers."""
    found = heap.malloc_trim()
    assert found is not None
    assert found(0) in (0, 1)


@pytest.mark.anyio
async def test_the_quiet_spell_calls_on_quiet_also_without_a_trim() -> None:
    """Where the C library has no malloc_trim the start-up thresholds must still come back."""
    rec = Recorder()

    def on_quiet() -> None:
        rec(1)

    trim = heap.QuietTrim(None, idle=lambda: True, quiet=QUIET, on_quiet=on_quiet)

    async def body() -> None:
        await _first_work(trim, rec)
        assert rec.calls == [1] and trim.trims == 0

    await _run(trim, body())


def test_startup_gc_relaxes_once_and_settles_back_to_what_it_found() -> None:
    import gc

    before = gc.get_threshold()
    startup = heap.StartupGC()
    try:
        startup.relax()
        assert startup.saved == before and gc.get_threshold() == heap.STARTUP_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0, "what existed before the start is frozen out of collections"
        startup.relax()  # a second relax must not save the relaxed thresholds as the ones to restore
        startup.settled()
        assert startup.saved is None and gc.get_threshold() == before
        gc.set_threshold(1000, 5, 5)
        startup.settled()  # after the first, a no-op
        assert gc.get_threshold() == (1000, 5, 5)
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
