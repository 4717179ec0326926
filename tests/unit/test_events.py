"""The Event recorder's repeat filter: repeats within the window are dropped, and memory stays bounded."""

from __future__ import annotations

import pytest

from cloudpods_operator.kube.events import RepeatFilter


def _key(i: int) -> tuple[str, str, str, str]:
    return ("ns", "cluster", "Reason", f"note {i}")


@pytest.mark.parametrize(
    ("admits", "expected"),
    [
        ([(0, 0.0), (0, 1.0)], [True, False]),  # a repeat within the window
        ([(0, 0.0), (0, 10.0)], [True, True]),  # after the window it is posted again
        ([(0, 0.0), (1, 1.0), (0, 2.0)], [True, True, False]),  # other keys do not reset it
        ([(0, 0.0), (1, 1.0), (2, 2.0), (0, 3.0)], [True, True, True, True]),  # pushed out by the limit
    ],
)
def test_repeats_are_dropped_within_the_window(admits: list[tuple[int, float]], expected: list[bool]) -> None:
    repeats = RepeatFilter(window=10.0, limit=2)
    assert [repeats.admit(_key(i), now) for i, now in admits] == expected


@pytest.mark.parametrize(
    ("count", "step", "remembered"),
    [
        (100_000, 0.0, 50),  # never-repeating notes at once: capped by the limit
        (10_000, 1.0, 10),  # one a second: only the last window's worth
    ],
)
def test_what_is_remembered_is_bounded(count: int, step: float, remembered: int) -> None:
    repeats = RepeatFilter(window=10.0, limit=50)
    for i in range(count):
        assert repeats.admit(_key(i), i * step)
    assert len(repeats) == remembered
