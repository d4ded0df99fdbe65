"""Event types of the DSM engine and the event object that flows through a session.

The names are the ones scripts use as conditions (``key``, ``timer``, ...), so
an event type is just that string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

START = "start"
INVITE = "invite"
SESSION_START = "sessionStart"
RINGING = "ringing"
EARLY = "early"
FAILED = "failed"
HANGUP = "hangup"
KEY = "key"
TIMER = "timer"
NO_AUDIO = "noAudio"
SEPARATOR = "separator"
EVENT = "event"
B2B_EVENT = "B2Bevent"
EXCEPTION = "exception"
REMOTE_DISAPPEARED = "remoteDisappeared"
SESSION_TIMEOUT = "sessionTimeout"
RTP_TIMEOUT = "rtpTimeout"
SIP_REQUEST = "sipRequest"
SIP_REPLY = "sipReply"
STARTUP = "startup"
RELOAD = "reload"
SYSTEM = "system"
BEFORE_DESTROY = "beforeDestroy"

ALL = (
    START,
    INVITE,
    SESSION_START,
    RINGING,
    EARLY,
    FAILED,
    HANGUP,
    KEY,
    TIMER,
    NO_AUDIO,
    SEPARATOR,
    EVENT,
    B2B_EVENT,
    EXCEPTION,
    REMOTE_DISAPPEARED,
    SESSION_TIMEOUT,
    RTP_TIMEOUT,
    SIP_REQUEST,
    SIP_REPLY,
    STARTUP,
    RELOAD,
    SYSTEM,
    BEFORE_DESTROY,
)

# DTMF key numbers as SEMS reports them in #key.
KEY_NAMES = "0123456789*#ABCD"


@dataclass(slots=True)
class Event:
    """One event for a session: its type and its ``#params`` (mutable, like SEMS's map)."""

    type: str
    params: dict[str, str] | None = field(default=None)

    def param(self, name: str) -> str:
        if self.params is None:
            return ""
        return self.params.get(name, "")
