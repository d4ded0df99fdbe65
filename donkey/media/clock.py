"""The media clock: one 20 ms tick for every call, like SEMS's media processor.

Each tick runs three phases over all connected sessions, in this order:

1. ``receive_tick()`` -- hand the received frame to the output sink
   (conference channel, recorder, DTMF detector);
2. ``mix()`` on every registered mixer (conference bridges), so a member's
   voice reaches the others in the same tick;
3. ``send_tick()`` -- read one frame from the input source and send it.

Ticks are scheduled on absolute time (``start + n * 20 ms`` from
``reactor.seconds()``), so the period does not drift with processing time;
when the reactor was late, missed ticks are run back to back (up to
``max_catchup``) and beyond that skipped (counted in ``skipped``).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any, Protocol, cast

from twisted.logger import Logger

from donkey.media.frame import FRAME_MS

_log = Logger(namespace="donkey.media.clock")

TICK = FRAME_MS / 1000.0
_GONE = object()
_SLACK = 1e-6


class Clocked(Protocol):
    """A call's media as the clock drives it (phases 1 and 3)."""

    def receive_tick(self) -> None: ...
    def send_tick(self) -> None: ...


class Mixer(Protocol):
    """A conference bridge as the clock drives it (phase 2)."""

    def mix(self) -> None: ...


class DelayedCall(Protocol):
    """The part of ``IDelayedCall`` the clock uses."""

    def active(self) -> bool: ...
    def cancel(self) -> None: ...


class TimeReactor(Protocol):
    """The part of ``IReactorTime`` media needs (the reactor, or a ``task.Clock``)."""

    def seconds(self) -> float: ...
    def callLater(
        self, delay: float, callable: Callable[..., object], /, *args: object, **kw: object
    ) -> DelayedCall: ...


class MediaClock:
    """Drives all media; pass ``twisted.internet.task.Clock`` in tests."""

    def __init__(
        self,
        reactor: TimeReactor | None = None,
        max_catchup: int = 5,
        lateness_samples: int = 4096,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as _r

            reactor = cast(TimeReactor, _r)
        self.reactor: TimeReactor = reactor
        self.max_catchup = max_catchup
        # insertion-ordered set: O(1) connect/disconnect, ticks in connect order
        self._sessions: dict[Clocked, None] = {}
        self._dirty = False
        self._recv: tuple[Callable[[], None], ...] = ()
        self._send: tuple[Callable[[], None], ...] = ()
        self._mixers: tuple[Mixer, ...] = ()
        # Mixers whose failure was reported: a broken bridge fails every tick,
        # and is reported once, not 50 times a second.
        self._failed_mixers: set[int] = set()
        self._call: DelayedCall | None = None
        self._start = 0.0
        self.ticks = 0  # ticks run since start
        self.skipped = 0
        self.errors = 0
        # Ring of tick lateness (seconds behind schedule), for monitoring/bench.
        self.lateness = array("d", bytes(8 * lateness_samples))
        self._lat_n = 0

    # -- membership
    def connect(self, session: Clocked) -> None:
        """Start ticking *session* (idempotent); starts the clock if needed."""
        if session in self._sessions:
            return
        self._sessions[session] = None
        self._dirty = True  # the tuples are rebuilt once, at the next tick
        if self._call is None:
            self.start()

    def disconnect(self, session: Clocked) -> None:
        """Stop ticking *session*; the clock stops when nothing is left."""
        if self._sessions.pop(session, _GONE) is _GONE:
            return
        self._dirty = True
        if not self._sessions:
            # no tick will rebuild the tuples now: empty them, or their bound
            # methods keep the last sessions (and their calls) alive while idle
            self._recv = self._send = ()
            self._dirty = False
            self.stop()

    def add_mixer(self, mixer: Mixer) -> None:
        """Run *mixer* in phase 2 of every tick (idempotent)."""
        if mixer not in self._mixers:
            self._mixers = self._mixers + (mixer,)

    def remove_mixer(self, mixer: Mixer) -> None:
        """Stop mixing *mixer*."""
        self._mixers = tuple(m for m in self._mixers if m is not mixer)
        self._failed_mixers.discard(id(mixer))

    def _rebuild(self) -> None:
        # Bound methods cached in tuples: the tick loop does no lookups.
        # Rebuilt lazily (once per tick at most), not per connect/disconnect:
        # with hundreds of calls starting and ending per second that was O(n^2).
        self._dirty = False
        self._recv = tuple(s.receive_tick for s in self._sessions)
        self._send = tuple(s.send_tick for s in self._sessions)

    @property
    def sessions(self) -> list[Clocked]:
        """The sessions being ticked, in connect order."""
        return list(self._sessions)

    @property
    def running(self) -> bool:
        """Whether a next tick is scheduled."""
        return self._call is not None

    # -- scheduling
    def start(self) -> None:
        """Schedule the first tick now (idempotent); :meth:`connect` calls it."""
        if self._call is not None:
            return
        self._start = self.reactor.seconds()
        self.ticks = 0
        self._call = self.reactor.callLater(0, self._run)

    def stop(self) -> None:
        """Cancel the next tick; :meth:`disconnect` of the last session calls it."""
        call = self._call
        self._call = None
        if call is not None and call.active():
            call.cancel()

    def _run(self) -> None:
        me = self._call
        now = self.reactor.seconds()
        # Ticks that should have run by now (a microsecond of float slack).
        due = int((now - self._start + _SLACK) / TICK) + 1
        behind = due - self.ticks
        if behind > self.max_catchup:
            self.skipped += behind - self.max_catchup
            self.ticks = due - self.max_catchup
            behind = self.max_catchup
        lat = now - (self._start + self.ticks * TICK)
        i = self._lat_n
        self.lateness[i % len(self.lateness)] = lat
        self._lat_n = i + 1
        for _ in range(behind):
            self.tick()
            if self._call is not me:  # stopped (or restarted) from inside the tick
                return
            self.ticks += 1
        if self._call is me:
            nxt = self._start + self.ticks * TICK
            self._call = self.reactor.callLater(
                max(0.0, nxt - _SLACK - self.reactor.seconds()), self._run
            )

    def tick(self) -> None:
        """One 20 ms media cycle for all sessions and mixers."""
        if self._dirty:
            self._rebuild()
        for f in self._recv:
            try:
                f()
            except Exception:
                self._failed(f)
        for m in self._mixers:
            try:
                m.mix()
            except Exception:
                self._mixer_failed(m)
        if self._dirty:  # a session left during receive/mix: it sends nothing more
            self._rebuild()
        for f in self._send:
            try:
                f()
            except Exception:
                self._failed(f)

    def _failed(self, f: Callable[[], None]) -> None:
        # A broken call must not stop everybody's audio: report and go on.
        # The session is disconnected, so this logs once per broken call.
        self.errors += 1
        _log.failure("media tick failed in {phase!r}; disconnecting it", phase=f)
        owner: Any = getattr(f, "__self__", None)
        if owner is not None and owner in self._sessions:
            self.disconnect(owner)

    def _mixer_failed(self, mixer: Mixer) -> None:
        # A mixer stays registered (its members still get their own audio
        # paths ticked), so only its first failure is logged.
        self.errors += 1
        if id(mixer) in self._failed_mixers:
            return
        self._failed_mixers.add(id(mixer))
        _log.failure("media mixer {mixer!r} failed; further failures are only counted", mixer=mixer)

    def lateness_samples(self) -> list[float]:
        """Recorded tick lateness (seconds behind schedule), oldest first until the ring wraps."""
        n = min(self._lat_n, len(self.lateness))
        return list(self.lateness[:n])
