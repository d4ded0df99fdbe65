"""Waiting in tests without fixed sleeps, and the CI rule for missing services.

A test that needs something to happen polls for it with :func:`wait_until`:
the wait ends as soon as the condition holds, and a timeout fails the test
with a message naming what was awaited and the last value seen, so a slow
machine costs time, never a spurious failure or a silent pass.

:func:`service_missing` is how a test reacts when a service it needs
(MariaDB, Redis, the SEMS conformance traces) is absent: a developer's
machine skips with the reason; under ``CI=true`` the same absence is a
failure, because ``.ci/run`` provides every service and a skip there would
hide a broken setup.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol, cast

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.trial import unittest


class Clock(Protocol):
    """What waiting needs of a clock: the real reactor or a :class:`task.Clock`."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any: ...


def _default_clock() -> Clock:
    from twisted.internet import reactor

    return cast(Clock, reactor)


async def _tick(clock: Clock, seconds: float) -> None:
    await task.deferLater(cast(IReactorTime, clock), seconds, lambda: None)


async def pause(seconds: float, clock: Clock | None = None) -> None:
    """Let *seconds* pass on *clock*: for pacing what a test sends, never for waiting."""
    await _tick(clock or _default_clock(), seconds)


async def wait_until(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
    clock: Clock | None = None,
) -> Any:
    """Poll *predicate* (plain or async) on *clock* until it returns something truthy.

    Returns that value.  After *timeout* seconds of the clock the test fails
    with :class:`AssertionError` naming *what* and the last value seen.
    """
    clock = clock or _default_clock()
    deadline = clock.seconds() + timeout
    last: Any = None
    while True:
        last = predicate()
        if isinstance(last, defer.Deferred) or inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if clock.seconds() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await _tick(clock, interval)


def in_ci() -> bool:
    """True when the suite runs under ``.ci/run`` (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def service_missing(reason: str) -> NoReturn:
    """Skip the running test for *reason*, or fail it under ``CI=true``."""
    if in_ci():
        raise AssertionError(f"CI=true and {reason}")
    raise unittest.SkipTest(reason)
