"""Run the sippy SIP stack on the Twisted reactor, in one thread.

sippy drives everything (transaction timers, UA state timers, cross-thread
hand-offs) through its process-wide event dispatcher ``ED2`` and normally
spins its own ``ED2.loop()``.  :class:`TimerBridge` holds the replacements
for those methods, bound to one ``Clock``;
:func:`donkey.sip.sippy_process.install` puts them in place:

* ``regTimer(cb, ival, nticks=1, abs_time=False, *params)`` returns a
  :class:`ReactorTimer` whose ``go()`` / ``cancel()`` / ``spread_runs()`` are
  implemented with ``Clock.callLater``.  ``nticks`` keeps sippy's
  meaning: ``-1`` fires forever, ``N > 1`` fires N times, ``abs_time`` means
  ``ival`` is a :class:`~sippy.Time.MonoTime.MonoTime` deadline.
* ``callFromThread`` goes to ``reactor.callFromThread``; ``callFromThreadSync``
  to ``blockingCallFromThread``.
* ``breakLoop`` stops the reactor, and ``loop`` raises: sippy's own loop must
  never run, the reactor is the only loop.

sippy also writes every SIP message through a ``SipLogger``; the transaction
manager gets a :class:`TwistedSipLogger` instead, which forwards to
``twisted.logger`` at debug level and costs nothing when debug is off.
"""

from __future__ import annotations

from collections.abc import Callable
from random import random
from typing import Any

from sippy.Core.Exceptions import dump_exception
from sippy.Time.MonoTime import MonoTime
from twisted.logger import Logger, LogLevel

from donkey.sip.clock import Clock, DelayedCall

log = Logger(namespace="donkey.sip")


class ReactorTimer:
    """A sippy timer (``EventListener`` look-alike) backed by ``callLater``.

    sippy creates timers with ``ED2.regTimer()`` then calls ``go()``; some
    callers hold on to it to ``cancel()`` it later, a few read ``etime``.
    """

    cb_with_ts = False

    def __init__(
        self,
        clock: Clock,
        cb: Callable[..., Any],
        ival: Any,
        nticks: int | None,
        abs_time: bool,
        params: tuple,
        registry: set | None = None,
    ) -> None:
        self._clock = clock
        self._registry = registry
        self.cb_func: Callable[..., Any] | None = cb
        self.cb_params = params
        self.ival = ival
        self.nticks = nticks
        self.abs_time = abs_time
        self._due: float | None = None  # reactor time of the next run
        self.randomize_runs: Callable[[float], float] | None = None
        self._call: DelayedCall | None = None

    # sippy API ---------------------------------------------------------
    def go(self) -> None:
        if self.cb_func is None:
            return
        if self.abs_time:
            deadline: MonoTime = self.ival
            delay = deadline.monot - MonoTime().monot
            self.nticks = 1
        else:
            delay = self._interval()
        self._schedule(delay)

    @property
    def etime(self) -> MonoTime | None:
        """When the timer fires next, as sippy's MonoTime (computed on demand:
        creating a MonoTime per timer is measurable at hundreds of cps)."""
        if self._due is None:
            return None
        return MonoTime().getOffsetCopy(self._due - self._clock.seconds())

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self.cleanup()

    def cleanup(self) -> None:
        if self._registry is not None:
            self._registry.discard(self)
        self._call = None
        self.cb_func = None
        self.cb_params = ()
        self.randomize_runs = None

    def spread_runs(self, p: float) -> None:
        self.randomize_runs = lambda x: x * (1.0 + p * (1.0 - 2.0 * random()))

    # internals ---------------------------------------------------------
    def active(self) -> bool:
        return self._call is not None and self._call.active()

    def _interval(self) -> float:
        ival = float(self.ival)
        if self.randomize_runs is not None:
            ival = self.randomize_runs(ival)
        return ival

    def _schedule(self, delay: float) -> None:
        if self._registry is not None:
            self._registry.add(self)
        delay = max(0.0, delay)
        self._due = self._clock.seconds() + delay
        self._call = self._clock.callLater(delay, self._fire)

    def _fire(self) -> None:
        self._call = None
        cb = self.cb_func
        if cb is None:
            return
        params = self.cb_params
        nticks = self.nticks
        periodic = nticks == -1 or (nticks is not None and nticks > 1)
        if periodic:
            if nticks is not None and nticks > 1:
                self.nticks = nticks - 1
            # Reschedule first, as sippy does: the callback may cancel us.
            self._schedule(self._interval())
        try:
            if self.cb_with_ts:
                cb(MonoTime(), *params)
            else:
                cb(*params)
        except Exception:
            log.failure("sippy timer callback {cb!r} failed", cb=cb)
        if not periodic:
            self.cleanup()


class TimerBridge:
    """The replacement methods for ``ED2``, bound to one ``Clock``."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        #: scheduled timers, so a stopped stack can leave a clean reactor
        self.timers: set = set()

    def cancel_all(self) -> int:
        """Cancel every pending sippy timer (stack shutdown, tests)."""
        n = 0
        for t in list(self.timers):
            t.cancel()
            n += 1
        self.timers.clear()
        return n

    def regTimer(self, timeout_cb, ival, nticks=1, abs_time=False, *cb_params):
        if nticks == 0:
            return None
        if abs_time and not isinstance(ival, MonoTime):
            raise TypeError("ival is not MonoTime")
        return ReactorTimer(
            self.reactor, timeout_cb, ival, nticks, abs_time, cb_params, self.timers
        )

    def callFromThread(self, thread_cb, *cb_params):
        self.reactor.callFromThread(self._guarded, thread_cb, cb_params)

    def callFromThreadSync(self, thread_cb, *cb_params):
        from twisted.internet.threads import blockingCallFromThread

        return blockingCallFromThread(self.reactor, thread_cb, *cb_params)

    def breakLoop(self, rval=0):
        if getattr(self.reactor, "running", False):
            self.reactor.stop()

    def loop(self, timeout=None, freq=None):
        raise RuntimeError(
            "sippy's ED2.loop() must not run under donkey; the Twisted reactor is the loop"
        )

    @staticmethod
    def _guarded(thread_cb, cb_params):
        try:
            thread_cb(*cb_params)
        except Exception:
            dump_exception("donkey: unhandled exception in sippy callFromThread")


class TwistedSipLogger:
    """Stand-in for ``sippy.SipLogger``: SIP traffic to twisted.logger (debug).

    Formatting a full SIP message per packet is the costly part, so it is
    skipped unless ``enabled`` (set it from config to trace SIP).
    """

    def __init__(self, enabled: bool = False, logger: Logger | None = None) -> None:
        self.enabled = enabled
        self.log = logger or Logger(namespace="donkey.sip.trace")

    def write(self, *args: Any, **kwargs: Any) -> None:
        if not self.enabled:
            return
        text = "".join(str(a) for a in args)
        self.log.emit(LogLevel.debug, "{sip}", sip=text, call_id=kwargs.get("call_id"))

    def shutdown(self) -> None:
        pass
