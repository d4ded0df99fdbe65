"""Regular expressions that cannot stall the reactor: RE2 first, Python's ``re`` only under a clock.

Patterns reach donkey from XML-RPC callers (``monitoring.listByRegex``) and
from scripts (mod_regex), and the texts they are matched against come from
strangers (a From display name).  Python's backtracking ``re`` takes
exponential time on patterns like ``^(a+)+$``; RE2 (PyPI ``google-re2``)
matches in time linear in the text, so every pattern it accepts is compiled
with it.

RE2 rejects what it cannot do in linear time: back-references and
lookaround.  Such a pattern falls back to Python's ``re`` (when the caller
allows it), and each match then runs under a real-time limit
(:data:`FALLBACK_TIME_LIMIT`, 50 ms by default) enforced with
``ITIMER_REAL``: CPython's regex engine checks for signals while it
backtracks, so the alarm interrupts it and the match raises
:class:`RegexTimeout`.  Signals reach only the main thread (the reactor's),
so off it a fallback match is refused with :class:`RegexTimeout` at once
rather than run unbounded.  The timer and the ``SIGALRM`` handler are set
only for the duration of one match and restored afterwards.
"""

from __future__ import annotations

import re
import signal
import threading
from typing import Any, Protocol

import re2

#: Seconds one match of a fallback (Python ``re``) pattern may take.
FALLBACK_TIME_LIMIT = 0.05

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its refusals to stderr


class RegexError(ValueError):
    """A pattern that cannot be compiled (or not safely): the message says why."""


class RegexTimeout(RegexError):
    """A fallback match ran out of time (or could not be timed)."""


class Match(Protocol):
    """The part of a match object callers use (RE2's and ``re``'s both have it)."""

    def group(self, index: int = 0, /) -> Any: ...

    def groups(self) -> tuple[Any, ...]: ...

    def span(self, index: int = 0, /) -> tuple[int, int]: ...


class SafePattern:
    """A compiled pattern whose matching is linear (RE2) or time-limited (``re``).

    :ivar pattern: the text as given.
    :ivar engine: ``"re2"`` or ``"re"`` (the time-limited fallback).
    """

    __slots__ = ("pattern", "engine", "_compiled", "time_limit")

    def __init__(self, pattern: str, engine: str, compiled: Any, time_limit: float) -> None:
        self.pattern = pattern
        self.engine = engine
        self._compiled = compiled
        self.time_limit = time_limit

    def search(self, text: str) -> Match | None:
        """The first match anywhere in ``text``; :class:`RegexTimeout` if a fallback overruns."""
        if self.engine == "re2":
            return self._compiled.search(text)
        return _timed(self._compiled.search, text, self.time_limit)

    def fullmatch(self, text: str) -> Match | None:
        """A match of the whole of ``text``; :class:`RegexTimeout` if a fallback overruns."""
        if self.engine == "re2":
            return self._compiled.fullmatch(text)
        return _timed(self._compiled.fullmatch, text, self.time_limit)

    def __repr__(self) -> str:
        return f"SafePattern({self.pattern!r}, engine={self.engine!r})"


def compile(
    pattern: str,
    *,
    dotall: bool = False,
    ignorecase: bool = False,
    ascii: bool = False,
    fallback: bool = True,
    time_limit: float = FALLBACK_TIME_LIMIT,
) -> SafePattern:
    """Compile ``pattern`` (Python ``re`` syntax) with RE2, or as a time-limited fallback.

    :param fallback: whether a pattern RE2 rejects but ``re`` accepts is
        allowed (time-limited); without it such a pattern is a
        :class:`RegexError` naming the reason.
    :param ascii: ``\\w``, ``\\s``, ``\\b`` are ASCII-only (RE2's always are).
    :raises RegexError: the pattern is invalid, or needs the fallback and
        ``fallback`` is false.
    """
    inline = ("s" if dotall else "") + ("i" if ignorecase else "")
    prefix = f"(?{inline})" if inline else ""
    try:
        return SafePattern(
            pattern, "re2", re2.compile(prefix + _to_re2(pattern), _OPTIONS), time_limit
        )
    except re2.error as e:
        why = e.args[0] if e.args else str(e)
        rejected = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
    flags = (re.DOTALL if dotall else 0) | (re.IGNORECASE if ignorecase else 0)
    flags |= re.ASCII if ascii else 0
    try:
        compiled = re.compile(pattern, flags)
    except re.error as e:
        raise RegexError(str(e)) from None
    except (OverflowError, RecursionError) as e:
        raise RegexError(f"pattern too complex: {e}") from None
    if not fallback:
        raise RegexError(
            f"pattern needs a feature RE2 lacks ({rejected}); refused because "
            "matching it could take exponential time"
        )
    return SafePattern(pattern, "re", compiled, time_limit)


def _to_re2(pattern: str) -> str:
    """Python spellings RE2 reads differently: ``\\Z`` (end of text) is RE2's ``\\z``."""
    if "\\Z" not in pattern:
        return pattern
    out = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            out.append("\\z" if nxt == "Z" else ch + nxt)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Alarm(Exception):
    """Raised by the SIGALRM handler inside a timed match."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm()


def _timed(run: Any, text: str, limit: float) -> Match | None:
    """``run(text)`` interrupted after ``limit`` seconds (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        raise RegexTimeout(
            "pattern needs Python's re, which is only run time-limited on the main thread"
        )
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        try:
            return run(text)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Alarm:
        raise RegexTimeout(f"match took longer than {limit:g} s and was stopped") from None
    finally:
        signal.signal(signal.SIGALRM, previous)
        if old_delay:
            signal.setitimer(signal.ITIMER_REAL, old_delay, old_interval)
