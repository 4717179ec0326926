"""Helpers for the integration tests."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    fn: Callable[[], Awaitable[T]],
    timeout: float = ...,  # noqa: ASYNC109 - a deadline for all retries
    interval: float = ...,
    *,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
async def eventually(
    fn: Callable[[], T],
    timeout: float = ...,  # noqa: ASYNC109 - a deadline for all retries
    interval: float = ...,
    *,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


async def eventually(
    fn: Callable[[], Any],
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for all retries
    interval: float = 0.2,
    *,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> Any:
    """Call `fn` (sync or async) until it passes, and return what it returned.

    A call passes when it returns without raising one of `retry_on` and does not return exactly False.
    After `timeout` seconds the last failure is raised as an AssertionError (chained to it)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            if result is not False:
                return result
            failure: BaseException = AssertionError(f"{getattr(fn, '__name__', fn)!s} returned False")
        except retry_on as exc:
            failure = exc
        if time.monotonic() >= deadline:
            message = f"still failing after {timeout:.1f}s and {attempts} attempts: {failure!r}"
            raise AssertionError(message) from failure
        await asyncio.sleep(interval)
