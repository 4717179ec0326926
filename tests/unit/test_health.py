"""The first passes start once all but the Pods are listed; readiness (and status writes) wait for all."""

from __future__ import annotations

from cloudpods_operator.manager import Health


def test_passes_may_start_before_the_pods_are_listed() -> None:
    health = Health(expected=4, status_only=frozenset({3}))
    for index in (0, 1):
        health.mark(index)
    assert not health.planning.is_set() and not health.ready
    health.mark(2)
    assert health.planning.is_set() and not health.ready  # the Pods' list (3) is still under way
    health.mark(3)
    assert health.ready


def test_without_status_only_watches_both_wait_for_all() -> None:
    health = Health(expected=2)
    health.mark(1)
    assert not health.planning.is_set()
    health.mark(0)
    assert health.planning.is_set() and health.ready
