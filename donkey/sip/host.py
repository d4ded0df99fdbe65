"""What a call leg needs from the stack that owns it: :class:`LegHost`.

The leg and :class:`~donkey.sip.stack.SipStack` meet only here: the stack
implements this Protocol, the leg calls nothing else of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from donkey.sip.clock import Clock
from donkey.sip.in_dialog import ResponseSender
from donkey.sip.listener import CallListener
from donkey.sip.session_timer import SessionTimerConfig

if TYPE_CHECKING:
    from donkey.sip.leg import CallLeg


class LegHost(ResponseSender, Protocol):
    """What a :class:`~donkey.sip.leg.CallLeg` needs from the stack that owns it."""

    @property
    def clock(self) -> Clock:
        """Where the leg's own timers run."""
        ...

    @property
    def session_timer(self) -> SessionTimerConfig:
        """RFC 4028 policy for every leg."""
        ...

    @property
    def linger(self) -> float:
        """Seconds a finished dialog keeps answering stray requests."""
        ...

    @property
    def global_config(self) -> dict[str, Any]:
        """sippy's configuration dictionary (with its transaction manager)."""
        ...

    def listener_for(self, leg: CallLeg) -> CallListener | None:
        """The listener of a new inbound leg (None: no app takes it)."""
        ...

    def leg_started(self, leg: CallLeg) -> None:
        """A new call exists (counted against the limits)."""
        ...

    def leg_connected(self, leg: CallLeg) -> None:
        """The call was answered."""
        ...

    def leg_ended(self, leg: CallLeg) -> None:
        """The call is over for the app (it may linger in sippy)."""
        ...

    def leg_gone(self, leg: CallLeg) -> None:
        """The call is gone for good."""
        ...
