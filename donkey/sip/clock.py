"""The part of ``IReactorTime`` the SIP room uses, as a typing Protocol.

Twisted's ``IReactorTime`` is a zope interface, which a type checker cannot
read as a type; :class:`Clock` says the same thing structurally, so the
reactor and ``task.Clock`` both fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class DelayedCall(Protocol):
    """What ``callLater`` returns (``IDelayedCall``)."""

    def active(self) -> bool:
        """True until it ran or was cancelled."""
        ...

    def cancel(self) -> None:
        """Do not run it."""
        ...


class Clock(Protocol):
    """``seconds()`` and ``callLater()`` of ``IReactorTime``."""

    def seconds(self) -> float:
        """The current time, in seconds."""
        ...

    def callLater(
        self, delay: float, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> DelayedCall:
        """Run ``func(*args, **kwargs)`` in *delay* seconds."""
        ...
