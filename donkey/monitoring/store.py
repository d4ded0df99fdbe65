"""The in-memory attribute-value store behind SEMS's ``monitoring`` module.

Entries are keyed by an ID (usually a session's local tag) and hold
attribute-value pairs; the core and DSM push what a call is doing, and
operators read it back over XML-RPC.  Entries can be marked finished and
are then listed separately and garbage collected.  Besides entries the
store keeps per-type named counters and timestamped samples for rates.

Time comes from the ``clock`` passed in (anything with ``seconds()``), so tests drive
expiry with :class:`twisted.internet.task.Clock`.  The store is plain Python: the
SEMS-style DI conventions live in :mod:`donkey.app.monitoring_di`.

Deviations from SEMS, on purpose:

- ``erase(ID)`` erases only that entry (SEMS's dispatcher cleared all).
- A sample whose timestamp equals the newest one is kept; only a clock
  going backwards resets a sample list (SEMS also reset on equal times,
  which with a test clock would drop samples).
- ``getCount``/``getAllCounts`` also report counters made with
  ``inc``/``dec``/``addCount``, as the SEMS documentation promises; samples
  take precedence for a name that has both.

The store's own methods are snake_case (``mark_finished``,
``get_attribute_active`` ...); the SEMS spellings are the DI interface's.
"""

from __future__ import annotations

import builtins
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime

from donkey.common import saferegex
from donkey.common.saferegex import SafePattern
from donkey.common.truthy import truthy

__all__ = [
    "MonitoringStore",
    "MonitoringGarbageCollector",
    "store_from_config",
    "make_garbage_collector",
]

_MISSING = object()


class Clock(Protocol):
    """What the store needs of time: the reactor, or a test's :class:`~twisted.internet.task.Clock`."""

    def seconds(self) -> float:
        """Now, in seconds."""
        ...


@dataclass
class _Entry:
    """One monitored ID: its attributes, and when it is (to be) finished."""

    info: dict[str, Any] = field(default_factory=dict)
    #: absolute time (clock seconds) from which the entry counts as
    #: finished; None while active.
    finished: float | None = None


def _is_finished(entry: _Entry, now: float) -> bool:
    """Whether ``entry`` counts as finished at ``now``."""
    return entry.finished is not None and entry.finished <= now


class MonitoringStore:
    """Attribute-value pairs per ID, counters and samples.

    :param clock: provides ``seconds()``; the reactor in production.
    :param retain_samples: seconds a sample is kept for rate queries.
    """

    def __init__(self, clock: Clock, retain_samples: float = 10.0) -> None:
        self.clock = clock
        self.retain_samples = retain_samples
        self._entries: dict[str, _Entry] = {}
        # type -> name -> deque[(time, count)], oldest first
        self._samples: dict[str, dict[str, deque[tuple[float, int]]]] = {}

    # -- writing -------------------------------------------------------

    def _entry(self, ident: str) -> _Entry:
        entry = self._entries.get(ident)
        if entry is None:
            entry = self._entries[ident] = _Entry()
        return entry

    def set(self, ident: str, key: str, value: Any) -> None:
        """Set attribute ``key`` of entry ``ident`` (created if missing)."""
        self._entry(ident).info[key] = value

    def update(self, ident: str, attributes: Mapping[str, Any]) -> None:
        """Set several attributes at once (SEMS's multi-pair ``set``)."""
        self._entry(ident).info.update(attributes)

    log = set

    def add(self, ident: str, key: str, value: Any) -> None:
        """Append ``value`` to attribute ``key``, turning it into a list.

        As in SEMS, a missing attribute starts out as the integer 0, so the
        first ``add`` yields ``[0, value]``: the shape DSM state graphs have
        always had (``[0, 'app/START', '> transition >', ...]``).
        """
        info = self._entry(ident).info
        current = info.get(key, 0)
        if isinstance(current, list):
            current.append(value)
        else:
            info[key] = [current, value]

    log_add = add

    def mark_finished(self, ident: str) -> None:
        """Mark ``ident`` finished now, unless it already has a finish time."""
        entry = self._entry(ident)
        if entry.finished is None:
            entry.finished = self.clock.seconds()

    def set_expiration(self, ident: str, when: float | None) -> None:
        """Make ``ident`` count as finished from absolute time ``when`` (clock
        seconds, i.e. the Epoch under a real reactor).  ``0`` or ``None``
        makes it active again.
        """
        self._entry(ident).finished = when if when else None

    # -- reading -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ident: object) -> bool:
        return ident in self._entries

    def list(self) -> builtins.list[str]:
        """All IDs, in creation order."""
        return list(self._entries)

    def list_active(self) -> builtins.list[str]:
        """IDs of entries not (yet) finished."""
        now = self.clock.seconds()
        return [i for i, e in self._entries.items() if not _is_finished(e, now)]

    def list_finished(self) -> builtins.list[str]:
        """IDs of finished entries (awaiting garbage collection)."""
        now = self.clock.seconds()
        return [i for i, e in self._entries.items() if _is_finished(e, now)]

    def list_by_filter(self, *filters: tuple[str, Any]) -> builtins.list[str]:
        """IDs whose attributes equal every ``(attribute, value)`` given."""
        return [i for i, _ in self._matching(filters)]

    def list_by_regex(
        self, key: str, pattern: str | SafePattern | re.Pattern[str]
    ) -> builtins.list[str]:
        """IDs whose string attribute ``key`` contains a match for ``pattern``
        (searched, not anchored, like POSIX ``regexec``).

        A text pattern is compiled with RE2 (:mod:`donkey.common.saferegex`),
        so the search is linear in the values' length whatever the pattern;
        one RE2 cannot take (back-references, lookaround) is refused.

        :raises RegexError: for an invalid or refused pattern.
        """
        rx = saferegex.compile(pattern, fallback=False) if isinstance(pattern, str) else pattern
        out = []
        for ident, entry in self._entries.items():
            value = entry.info.get(key)
            if isinstance(value, str) and rx.search(value) is not None:
                out.append(ident)
        return out

    def get(self, ident: str) -> dict[str, Any] | None:
        """A copy of ``ident``'s attributes, or ``None`` if unknown."""
        entry = self._entries.get(ident)
        if entry is None:
            return None
        return {k: (v.copy() if isinstance(v, list) else v) for k, v in entry.info.items()}

    def get_view(self, ident: str) -> Mapping[str, Any] | None:
        """``ident``'s live attributes (not a copy), or ``None``: for callers that
        only read them at once, such as a transport marshalling a reply.
        """
        entry = self._entries.get(ident)
        return None if entry is None else entry.info

    def get_single(self, ident: str, key: str, default: Any = None) -> Any:
        """One attribute of one entry, or ``default``."""
        entry = self._entries.get(ident)
        if entry is None:
            return default
        return entry.info.get(key, default)

    def get_attribute(self, key: str) -> builtins.list[tuple[str, Any]]:
        """``(ID, value)`` of attribute ``key`` for every entry (None if unset)."""
        return [(i, e.info.get(key)) for i, e in self._entries.items()]

    def get_attribute_active(self, key: str) -> builtins.list[tuple[str, Any]]:
        """:meth:`get_attribute` restricted to active entries."""
        now = self.clock.seconds()
        return [(i, e.info.get(key)) for i, e in self._entries.items() if not _is_finished(e, now)]

    def get_attribute_finished(self, key: str) -> builtins.list[tuple[str, Any]]:
        """:meth:`get_attribute` restricted to finished entries."""
        now = self.clock.seconds()
        return [(i, e.info.get(key)) for i, e in self._entries.items() if _is_finished(e, now)]

    # -- erasing -------------------------------------------------------

    def erase(self, ident: str) -> bool:
        """Forget ``ident`` (entry and samples); True if there was an entry."""
        self._samples.pop(ident, None)
        return self._entries.pop(ident, None) is not None

    def erase_by_filter(self, *filters: tuple[str, Any]) -> builtins.list[str]:
        """Erase the entries :meth:`list_by_filter` would list; returns their IDs."""
        gone = [i for i, _ in self._matching(filters)]
        for ident in gone:
            self.erase(ident)
        return gone

    def clear(self) -> None:
        """Forget everything: entries and samples."""
        self._entries.clear()
        self._samples.clear()

    def clear_finished(self) -> builtins.list[str]:
        """Erase all finished entries; returns their IDs."""
        gone = self.list_finished()
        for ident in gone:
            self.erase(ident)
        return gone

    # -- counters and samples -------------------------------------------

    def add_count(self, kind: str, name: str, value: int) -> int:
        """Add ``value`` to counter ``name`` of ``kind``; returns the new value.

        Counters live as integer attributes of the entry ``kind`` (so
        ``get(kind)`` shows them, as in SEMS); a non-integer value there is
        restarted from 0.
        """
        info = self._entry(kind).info
        current = info.get(name, 0)
        if not isinstance(current, int) or isinstance(current, bool):
            current = 0
        current += value
        info[name] = current
        return current

    def inc(self, kind: str, name: str) -> int:
        """Counter ``name`` of ``kind`` plus one; returns the new value."""
        return self.add_count(kind, name, 1)

    def dec(self, kind: str, name: str) -> int:
        """Counter ``name`` of ``kind`` minus one; returns the new value."""
        return self.add_count(kind, name, -1)

    def add_sample(
        self, kind: str, name: str, count: int = 1, timestamp: float | None = None
    ) -> None:
        """Record ``count`` events of ``name`` at ``timestamp`` (default: now).

        Timestamps must not go backwards: if one does (clock resync) the
        sample list starts over.
        """
        now = self.clock.seconds() if timestamp is None else timestamp
        samples = self._samples.setdefault(kind, {}).setdefault(name, deque())
        if samples and samples[-1][0] > now:
            samples.clear()
        samples.append((now, count))

    def get_count(
        self, kind: str, name: str, seconds: float = 1.0, now: float | None = None
    ) -> int:
        """Events of ``name`` sampled within the last ``seconds`` (inclusive); for
        a name with no samples, the value of its counter (or 0).
        """
        if now is None:
            now = self.clock.seconds()
        samples = self._samples.get(kind, {}).get(name)
        if samples is not None:
            return self._sum(samples, now, seconds)
        entry = self._entries.get(kind)
        value = entry.info.get(name, 0) if entry is not None else 0
        return value if isinstance(value, int) else 0

    def get_all_counts(
        self, kind: str, seconds: float = 1.0, now: float | None = None
    ) -> dict[str, int]:
        """:meth:`get_count` for every counter and sampled name of ``kind``."""
        if now is None:
            now = self.clock.seconds()
        out: dict[str, int] = {}
        entry = self._entries.get(kind)
        if entry is not None:
            for key, value in entry.info.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    out[key] = value
        for name, samples in self._samples.get(kind, {}).items():
            out[name] = self._sum(samples, now, seconds)
        return out

    def _sum(self, samples: deque[tuple[float, int]], now: float, seconds: float) -> int:
        cliff = now - self.retain_samples
        while samples and samples[0][0] <= cliff:
            samples.popleft()
        start = now - seconds
        return sum(c for t, c in samples if start <= t <= now)

    # -- helpers -------------------------------------------------------

    def _matching(self, filters: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, _Entry]]:
        filters = [(k, v) for k, v in filters]
        for ident, entry in list(self._entries.items()):
            info = entry.info
            if all(info.get(k, _MISSING) == v for k, v in filters):
                yield ident, entry


class MonitoringGarbageCollector(Service):
    """Periodically drops finished entries (SEMS's ``run_garbage_collector``).

    :param interval: seconds between collections.
    :param clock: the clock driving the collection.
    """

    def __init__(self, store: MonitoringStore, interval: float, clock: IReactorTime) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.store.clear_finished)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None


def _int_option(config: Mapping[str, str], key: str, default: int) -> int:
    """An integer setting, ``default`` when empty; ``ValueError`` naming the key otherwise."""
    raw = config.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"monitoring: {key}={raw!r} is not an integer") from None


def store_from_config(config: Mapping[str, str], clock: Clock) -> MonitoringStore:
    """A store configured by ``monitoring.conf`` keys (``retain_samples_s``)."""
    return MonitoringStore(clock, retain_samples=_int_option(config, "retain_samples_s", 10))


def make_garbage_collector(
    config: Mapping[str, str], store: MonitoringStore, clock: IReactorTime
) -> MonitoringGarbageCollector | None:
    """The collector service if ``run_garbage_collector=yes`` (SEMS default:
    no), every ``garbage_collector_interval`` seconds (default 10).
    """
    if not truthy(config.get("run_garbage_collector"), False):
        return None
    interval = _int_option(config, "garbage_collector_interval", 10)
    if interval <= 0:
        raise ValueError("monitoring: garbage_collector_interval must be > 0")
    return MonitoringGarbageCollector(store, interval, clock)
