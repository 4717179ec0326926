"""The worker's one decision table: a pass's outcome, or the error it raised, -> the key's next step."""

from __future__ import annotations

import pytest

from cloudpods_operator import errors
from cloudpods_operator.observed import ClusterKey
from cloudpods_operator.outcome import Outcome
from cloudpods_operator.reconciler import Result, settle
from cloudpods_operator.workqueue import WorkQueue

KEY: ClusterKey = ("onecloud", "default")


class FrozenClock:
    """Time stands still: a delayed key stays delayed, nothing is handed out by accident."""

    def __call__(self) -> float:
        return 1000.0


def _queue_with_one_failure() -> WorkQueue[ClusterKey]:
    queue: WorkQueue[ClusterKey] = WorkQueue(clock=FrozenClock())
    queue.add_rate_limited(KEY)  # an earlier pass failed: its backoff must be forgotten on success
    return queue


@pytest.mark.parametrize(
    ("outcome", "result", "delayed", "retries"),
    [
        (Outcome(created=["Deployment/default-region"]), Result.SUCCESS, 1, 0),
        (Outcome(status_due=1.5), Result.SUCCESS, 2, 0),  # a deferred status write: one pass scheduled
        (None, Result.SUCCESS, 1, 0),  # the cluster is gone
        (Outcome(spec_error="spec.x: bad"), Result.SPEC_ERROR, 1, 0),  # waits for the next edit
        (Outcome(failures=["Deployment/default-host: 422"]), Result.ERROR, 2, 2),
        (Outcome(database_error="MySQL at mysql:3306 is unavailable"), Result.ERROR, 2, 2),
        (errors.TransientError("reset"), Result.ERROR, 2, 2),
        (errors.Conflict(409, "Conflict", "x"), Result.ERROR, 2, 2),
        (RuntimeError("a bug"), Result.ERROR, 2, 2),
        (errors.TooManyRequests(429, "TooManyRequests", "", retry_after=3.0), Result.REQUEUE_AFTER, 2, 1),
    ],
    ids=[
        "success",
        "status-due",
        "gone",
        "spec-error",
        "apply-failed",
        "database",
        "transient",
        "conflict",
        "crash",
        "429",
    ],
)
def test_settle(outcome: Outcome | BaseException | None, result: Result, delayed: int, retries: int) -> None:
    queue = _queue_with_one_failure()
    assert settle(queue, KEY, outcome) is result
    assert queue.delayed == delayed
    assert queue.retries(KEY) == retries
    assert len(queue) == 0  # nothing is retried at once


def test_retry_after_is_honoured() -> None:
    clock = FrozenClock()
    queue: WorkQueue[ClusterKey] = WorkQueue(clock=clock)
    settle(queue, KEY, errors.TooManyRequests(429, "TooManyRequests", "", retry_after=7.5))
    assert queue._delayed[0][0] == pytest.approx(1007.5)
