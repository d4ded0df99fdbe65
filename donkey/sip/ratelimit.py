"""One log line per bad datagram, but not a flood: a per-source line budget.

A stranger can send thousands of malformed requests a second; each is worth
a line in the log (who sent it and what was wrong) until it is not.  Each
source address gets :attr:`SourceLogLimiter.per_source` lines per
:attr:`SourceLogLimiter.window` seconds, and all sources together
:attr:`SourceLogLimiter.total`; past that, lines are counted, and when the
window ends one line says how many were suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.logger import Logger

from donkey.sip.clock import Clock, DelayedCall

log = Logger(namespace="donkey.sip.input")

#: at most this many sources are remembered (oldest windows are forgotten first)
MAX_SOURCES = 4096


@dataclass
class _Window:
    start: float
    lines: int = 0
    suppressed: int = 0


class SourceLogLimiter:
    """Logs through :mod:`twisted.logger`, at most so many lines per source per window."""

    def __init__(
        self,
        clock: Clock,
        per_source: int = 5,
        window: float = 10.0,
        total: int = 100,
        logger: Logger | None = None,
    ) -> None:
        self.clock = clock
        self.per_source = per_source
        self.window = window
        self.total = total
        self.log = logger or log
        self._sources: dict[str, _Window] = {}
        self._all = _Window(0.0)
        self._flush_call: DelayedCall | None = None
        #: lines written and suppressed since start (for tests and stats)
        self.written = 0
        self.suppressed = 0

    def emit(self, source: str, what: str, port: int | None = None) -> bool:
        """Log ``source[:port]: what`` if *source*'s budget allows; True if it was written.

        The budget is per host, not per port: a sender changing its source
        port gets no fresh budget.
        """
        now = self.clock.seconds()
        if now - self._all.start >= self.window:
            self._all = _Window(now)
        entry = self._sources.get(source)
        if entry is None or now - entry.start >= self.window:
            if entry is not None and entry.suppressed:
                self._report(source, entry.suppressed)
            if entry is None and len(self._sources) >= MAX_SOURCES:
                self._forget(now)
            entry = self._sources[source] = _Window(now)
        if entry.lines >= self.per_source or self._all.lines >= self.total:
            entry.suppressed += 1
            self.suppressed += 1
            self._schedule_flush()
            return False
        entry.lines += 1
        self._all.lines += 1
        self.written += 1
        where = source if port is None else "%s:%d" % (source, port)
        self.log.warn("{source}: {what}", source=where, what=what)
        return True

    def _report(self, source: str, count: int) -> None:
        self.log.warn(
            "{source}: {count} more like this suppressed in {window:g} s",
            source=source,
            count=count,
            window=self.window,
        )

    def _forget(self, now: float) -> None:
        """Drop sources whose window is over (reporting what they suppressed)."""
        for source, entry in list(self._sources.items()):
            if now - entry.start >= self.window:
                if entry.suppressed:
                    self._report(source, entry.suppressed)
                del self._sources[source]
        while len(self._sources) >= MAX_SOURCES:
            source = next(iter(self._sources))
            entry = self._sources.pop(source)
            if entry.suppressed:
                self._report(source, entry.suppressed)

    def _schedule_flush(self) -> None:
        if self._flush_call is None or not self._flush_call.active():
            self._flush_call = self.clock.callLater(self.window, self.flush)

    def flush(self) -> None:
        """Report every finished window's suppressed count now."""
        self._flush_call = None
        now = self.clock.seconds()
        pending = False
        for source, entry in list(self._sources.items()):
            if now - entry.start >= self.window:
                if entry.suppressed:
                    self._report(source, entry.suppressed)
                del self._sources[source]
            elif entry.suppressed:
                pending = True
        if pending:
            self._schedule_flush()

    def stop(self) -> None:
        """Cancel the pending report (the stack is stopping)."""
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
