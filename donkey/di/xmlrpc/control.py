"""What the built-in XML-RPC methods read and write: the server-wide knobs and figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class CoreControl(Protocol):
    """The server-wide knobs and figures the built-in methods read and write.

    The server supplies the real one; :class:`InMemoryCoreControl` serves tests.
    """

    shutdown_mode: bool

    def calls(self) -> int:
        """Number of sessions running now."""

    def get_loglevel(self) -> int:
        """Current log level (SEMS numbering: 0 error .. 3 debug)."""

    def set_loglevel(self, level: int) -> None:
        """Change the log level."""

    def session_count(self) -> int:
        """Sessions (call legs) started since the server came up (``get_sessioncount``)."""

    def get_cpslimit(self) -> int:
        """New calls admitted per second at most; 0 is no limit."""

    def set_cpslimit(self, limit: int) -> None:
        """Change the CPS limit at once: the next new call is held to it."""

    @property
    def calls_avg(self) -> int:
        """Average number of active calls (recent window)."""

    @property
    def calls_max(self) -> int:
        """Peak active calls since last asked."""

    @property
    def cps_avg(self) -> int:
        """Average calls per second (recent window)."""

    @property
    def cps_max(self) -> int:
        """Peak calls per second since last asked."""


@dataclass
class InMemoryCoreControl:
    """A :class:`CoreControl` holding plain values, for tests and tools."""

    sessions: int = 0
    total_sessions: int = 0
    cps_limit: int = 0
    loglevel: int = 2
    shutdown_mode: bool = False
    calls_avg: int = 0
    calls_max: int = 0
    cps_avg: int = 0
    cps_max: int = 0

    def calls(self) -> int:
        """The ``sessions`` figure."""
        return self.sessions

    def get_loglevel(self) -> int:
        """The ``loglevel`` figure."""
        return self.loglevel

    def set_loglevel(self, level: int) -> None:
        """Store ``level`` as the ``loglevel`` figure."""
        self.loglevel = level

    def session_count(self) -> int:
        """The ``total_sessions`` figure."""
        return self.total_sessions

    def get_cpslimit(self) -> int:
        """The ``cps_limit`` figure."""
        return self.cps_limit

    def set_cpslimit(self, limit: int) -> None:
        """Store ``limit`` as the ``cps_limit`` figure."""
        self.cps_limit = limit
