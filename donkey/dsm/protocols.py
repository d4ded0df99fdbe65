"""What a DSM session may ask of the world around it, written down as Protocols.

The DSM layer knows no SIP, RTP, DI or monitoring code (the import contract
forbids it), yet its actions drive all of them.  These Protocols are the
contract between the two sides:

* :class:`CallHandle` is ``session.call``: the SIP dialog (answer, reply,
  BYE, REFER, in-dialog requests) and the ``@selects`` of the call;
* :class:`MediaHandle` is ``session.media``: playlist, prompts, recording,
  DTMF and the audio routing mod_conference changes;
* :class:`SessionHost` is ``session.runtime``: the services every session
  of one daemon shares (clock, other sessions, DI, monitoring, dial-out,
  per-runtime module state);
* :class:`DIHost`, :class:`MonitoringSink`, :class:`Dialer` and
  :class:`ConferenceRooms` are the injected services themselves.

The live classes (:class:`donkey.app.call.DSMCall` and
:class:`donkey.app.call.DSMMedia`) and the harness fakes
(:class:`donkey.dsm.harness.RecordingCall`,
:class:`donkey.dsm.harness.RecordingMedia`) implement them with explicit
methods, so a script that uses a method nobody implements fails in a unit
test exactly as it would on the wire, and mypy checks both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from twisted.logger import Logger

    from donkey.dsm.engine import StateObserver
    from donkey.dsm.events import Event
    from donkey.dsm.session import Session


# ---------------------------------------------------------------------------
# the call


class RequestHeaders(Protocol):
    """The headers of the initial INVITE: looked up by name, or all as text."""

    def get(self, key: str, /) -> str | None:
        """The first header ``key`` (case-insensitive), None when absent."""
        ...

    @property
    def raw(self) -> str:
        """The non-core headers as CRLF-joined text (SEMS's ``hdrs``)."""
        ...


class CallHandle(Protocol):
    """``session.call``: the SIP side of one call as mod_dlg and the core see it."""

    @property
    def direction(self) -> str:
        """``in`` for a call we received, ``out`` for one we placed."""
        ...

    @property
    def replied(self) -> bool:
        """Any reply has been sent to the initial INVITE."""
        ...

    @property
    def accepted(self) -> bool:
        """The call was answered (2xx) or given early media (183)."""
        ...

    # the selects (``@callid`` ...)
    @property
    def callid(self) -> str: ...

    @property
    def remote_tag(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def local_uri(self) -> str: ...

    @property
    def local_party(self) -> str: ...

    @property
    def remote_uri(self) -> str: ...

    @property
    def remote_party(self) -> str: ...

    @property
    def ruri(self) -> str: ...

    @property
    def request_headers(self) -> RequestHeaders | None:
        """The initial INVITE's headers (None where there was no INVITE to read)."""
        ...

    @property
    def other_id(self) -> str:
        """The other leg's local tag of a B2B call ('' while there is no B leg)."""
        ...

    @property
    def b2b(self) -> B2BHandle:
        """The B2B call control of this call (``B2B.*`` actions, mod_dlg's relay mode)."""
        ...

    def accept_invite(self, code: int = 200, reason: str = "OK", headers: str = "") -> bool:
        """Answer the INVITE with SDP; False when the offer had to be refused (488)."""
        ...

    def reply(self, code: int, reason: str, headers: str = "") -> None:
        """Reply to the INVITE without SDP (a 1xx, or a final refusal)."""
        ...

    def bye(self, headers: str = "") -> None:
        """End the dialog (BYE, or CANCEL/refusal before it was answered)."""
        ...

    def refer(self, target: str, expires: int = 0) -> None:
        """Send REFER to ``target``."""
        ...

    def send_request(
        self,
        method: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> None:
        """Send an in-dialog request (INFO ...)."""
        ...

    def reply_request(
        self, request: Mapping[str, Any], code: int, reason: str, headers: str = ""
    ) -> None:
        """Reply to an in-dialog request the script saw as ``sipRequest``."""
        ...


class B2BHandle(Protocol):
    """``session.call.b2b``: SEMS's B2B call control of one caller leg.

    The caller leg (A) is the session's call; the callee leg (B) is placed by
    :meth:`connect_callee`.  What B does comes back to the session as the
    ``B2B.otherReply``, ``B2B.otherBye`` and ``B2B.otherRequest`` events;
    headers set here go into B's INVITE.
    """

    def connect_callee(
        self,
        remote_party: str,
        remote_uri: str,
        *,
        local_party: str = "",
        local_uri: str = "",
        auth_user: str = "",
        auth_pwd: str = "",
        callid: str = "",
        relayed_invite: bool = False,
        rtp_relay: bool = False,
    ) -> None:
        """Place the B leg (To ``remote_party``, R-URI ``remote_uri``); an old one is ended."""
        ...

    def terminate_other_leg(self) -> None:
        """End the B leg (BYE, or CANCEL while it rings)."""
        ...

    def send_reinvite(self, generate_sdp: bool, headers: str = "") -> None:
        """Re-INVITE the caller leg, with donkey's own SDP when ``generate_sdp``."""
        ...

    def set_early_media_relay(self, enabled: bool) -> None:
        """Relay B's early media SDP (183) to the caller."""
        ...

    def set_relay_only(self, enabled: bool) -> None:
        """Relayed INVITE mode on or off."""
        ...

    def add_header(self, header: str) -> None:
        """One more header line for B's INVITE."""
        ...

    def remove_header(self, name: str) -> None:
        """Drop every header ``name`` from those for B's INVITE."""
        ...

    def clear_headers(self) -> None:
        """No extra headers in B's INVITE."""
        ...

    def set_headers(self, headers: str, replace_crlf: bool = False) -> None:
        """SEMS's ``setHeaders``: replace (or, with ``replace_crlf``, extend) the headers."""
        ...

    @property
    def headers(self) -> str:
        """The extra headers B's INVITE will carry (CRLF-terminated lines)."""
        ...

    def relay_event(self, params: Mapping[str, str]) -> bool:
        """A ``B2Bevent`` with ``params`` in the other leg; False when there is none."""
        ...

    @property
    def rtp_relay_mode(self) -> str:
        """``RTP_Direct`` (B and A talk directly) or ``RTP_Relay`` (donkey forwards)."""
        ...


# ---------------------------------------------------------------------------
# the media


class AudioSource(Protocol):
    """Gives one 20 ms frame per call (None: exhausted)."""

    def read(self) -> bytes | None: ...


class AudioSink(Protocol):
    """Takes one 20 ms frame per call."""

    def write(self, frame: bytes) -> None: ...


class MediaHandle(Protocol):
    """``session.media``: everything the core, mod_conference, mod_utils, mod_mysql
    and mod_py do to a call's audio.

    File problems raise ``OSError`` (with the path), an unknown prompt or
    prompt set ``LookupError``; the actions turn them into the DSM ``file``
    and ``prompt`` exceptions.
    """

    # the playlist
    def play_file(self, path: str, loop: bool = False, front: bool = False) -> None: ...

    def play_prompt(self, name: str, front: bool = False, loop: bool = False) -> None:
        """Queue a prompt of the selected prompt set (LookupError if it has none)."""
        ...

    def set_prompt_set(self, name: str) -> None:
        """Choose the prompt set later prompts come from (LookupError if unknown)."""
        ...

    def play_silence(self, ms: int, front: bool = False) -> None: ...

    def play_ringtone(
        self,
        length_ms: int,
        on_ms: int,
        off_ms: int,
        f: int,
        f2: int = 0,
        front: bool = False,
    ) -> None: ...

    def add_separator(self, id: str, front: bool = False) -> None:
        """A ``separator`` event with ``#id`` when playback reaches this point."""
        ...

    def flush_playlist(self) -> None: ...

    def set_in_out_playlist(self) -> None: ...

    def set_input_playlist(self) -> None: ...

    def set_output_playlist(self) -> None: ...

    # recording
    def record_file(self, path: str) -> None: ...

    def stop_record(self) -> None: ...

    @property
    def record_length_ms(self) -> int: ...

    @property
    def record_data_size(self) -> int: ...

    # routing (mod_conference)
    @property
    def input(self) -> AudioSource | None:
        """The source of what the caller hears."""
        ...

    @property
    def output(self) -> AudioSink | None:
        """The sink of what the caller says."""
        ...

    def set_input(self, source: AudioSource | None) -> None: ...

    def set_output(self, sink: AudioSink | None) -> None: ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    # switches
    def enable_receiving(self) -> None: ...

    def disable_receiving(self) -> None: ...

    def enable_force_dtmf_receiving(self) -> None: ...

    def disable_force_dtmf_receiving(self) -> None: ...

    def mute(self) -> None: ...

    def unmute(self) -> None: ...

    def enable_dtmf_detection(self) -> None: ...

    def disable_dtmf_detection(self) -> None: ...

    def monitor_rtp_timeout(self, enabled: bool) -> None:
        """``rtpTimeout`` after the configured time without RTP (``dead_rtp_time``)."""
        ...

    # DTMF out
    def send_dtmf(self, key: int, duration_ms: int = 500) -> None: ...

    def send_dtmf_sequence(self, sequence: str, duration_ms: int = 500) -> None: ...


# ---------------------------------------------------------------------------
# the host and its services


class DelayedCall(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class Reactor(Protocol):
    """The part of a Twisted reactor sessions use: time and timers."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> Any:
        """Returns an ``IDelayedCall`` (zope interfaces do not type-check as Protocols)."""
        ...


class DIHost(Protocol):
    """The DI registry the ``DI(...)`` actions call."""

    def invoke(self, iface: str, func: str, args: list[Any]) -> Any:
        """The result, or a Deferred firing with it."""
        ...


class MonitoringSink(Protocol):
    """Where call attributes go (SEMS's monitoring module)."""

    def set(self, ident: str, key: str, value: Any) -> None: ...

    def add(self, ident: str, key: str, value: Any) -> None: ...

    def update(self, ident: str, attributes: Mapping[str, Any]) -> None: ...

    def inc(self, kind: str, name: str) -> int: ...

    def dec(self, kind: str, name: str) -> int: ...

    def mark_finished(self, ident: str) -> None: ...


class DialRequest(Protocol):
    """What ``dlg.dialout`` asks for (:class:`donkey.mods.dlg.DialoutRequest`)."""

    app: str
    caller: str
    callee: str
    domain: str
    r_uri: str
    from_hdr: str
    to_hdr: str
    auth_user: str
    auth_pwd: str
    ltag: str
    headers: str
    variables: dict[str, str]
    parent: str


class Dialer(Protocol):
    """Places an outbound call running ``request.app``; returns its local tag."""

    def __call__(self, request: DialRequest) -> str: ...


class ConferenceRooms(Protocol):
    """mod_conference's rooms (:class:`donkey.media.conference.ConferenceBridge`)."""

    def join(self, room: str, mode: str = "", owner: object = None) -> Any: ...

    def tee_join(self, room: str, owner: object = None) -> Any: ...

    def size(self, room: str) -> int: ...

    def members(self, room: str) -> list[object]: ...


class SessionDirectory(Protocol):
    """Running sessions by local tag, and named event queues."""

    by_tag: dict[str, Session]

    def get(self, tag: str) -> Session | None: ...

    def post_event(self, target: str, event: Event) -> bool: ...

    def register_queue(self, name: str, session: Session) -> None: ...

    def unregister_queue(self, name: str, session: Session) -> None: ...


class SessionHost(Protocol):
    """``session.runtime``: what a session and its modules need of the DSM host."""

    @property
    def reactor(self) -> Reactor: ...

    @property
    def sessions(self) -> SessionDirectory: ...

    @property
    def di(self) -> DIHost | None: ...

    @property
    def monitoring(self) -> MonitoringSink | None: ...

    # mod_conference makes a clock-less bridge on first use where none was given
    conference: ConferenceRooms | None

    def dialout(self, request: DialRequest) -> str: ...

    def create_system_dsm(self, conf_name: str, diagram: str) -> tuple[bool, str]: ...

    def module_state(self, key: str, factory: Callable[[], Any]) -> Any: ...

    def drop_module_state(self, key: str) -> Any: ...

    def state_observer(self, session: Session) -> StateObserver | None: ...

    def dsm_logger(self, session: Session) -> Logger: ...

    def session_ended(self, session: Session) -> None: ...


def protocol_members(protocol: type) -> frozenset[str]:
    """The public names a Protocol declares (methods, properties, attributes).

    For tests that hold an implementation against its Protocol; Python 3.11
    has no ``typing.get_protocol_members``.
    """
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or klass is Protocol or klass.__module__ == "typing":
            continue
        names.update(getattr(klass, "__annotations__", {}))
        names.update(vars(klass))
    return frozenset(n for n in names if not n.startswith("_"))


__all__ = [
    "AudioSink",
    "AudioSource",
    "B2BHandle",
    "CallHandle",
    "ConferenceRooms",
    "DIHost",
    "DelayedCall",
    "DialRequest",
    "Dialer",
    "MediaHandle",
    "MonitoringSink",
    "Reactor",
    "RequestHeaders",
    "SessionDirectory",
    "SessionHost",
    "protocol_members",
]
