"""Run DSM scripts without SIP or RTP: scripted events in, a record of what happened out.

The project's own tests use it, and so can users, to unit-test call flows::

    h = Harness()
    h.load("main", {"diag_path": "conf/dsm", "load_diags": "myapp"})
    call = h.call("myapp", user="35")
    call.key(1); call.key(11)
    h.advance(5)
    assert call.path == ["START", "MENU", ...]
    assert call.record.replies == [(183, "Session Progress")]

Time is a :class:`twisted.internet.task.Clock`: ``advance()`` fires timers.
Calls get a :class:`RecordingCall` (SIP side) and a :class:`RecordingMedia`
(audio side) that remember every request made of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet import task
from twisted.logger import LogLevel, formatEvent

from donkey.dsm import callflow
from donkey.dsm import events as ev
from donkey.dsm.core.b2b import InviteHeaders
from donkey.dsm.diagram import Transition
from donkey.dsm.engine import StateObserver
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle, PromptConfig
from donkey.dsm.protocols import (
    AudioSink,
    AudioSource,
    B2BHandle,
    CallHandle,
    ConferenceRooms,
    DialRequest,
    DIHost,
    MediaHandle,
    MonitoringSink,
)
from donkey.dsm.runtime import Runtime
from donkey.dsm.session import Session


@dataclass
class Record:
    """What one session did, in order."""

    path: list[str] = field(default_factory=list)  # states entered ("STATE")
    graph: list[str] = field(default_factory=list)  # "diag/STATE" and "> name >"
    replies: list[tuple[int, str]] = field(default_factory=list)
    byes: int = 0
    played: list[str] = field(default_factory=list)
    media_calls: list[tuple[Any, ...]] = field(default_factory=list)
    call_calls: list[tuple[Any, ...]] = field(default_factory=list)
    dialouts: list[dict[str, str]] = field(default_factory=list)
    b2b_calls: list[tuple[Any, ...]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    vars_logged: list[dict[str, str]] = field(default_factory=list)


class _Recorder(StateObserver):
    def __init__(self, record: Record, inner: StateObserver | None):
        self.record = record
        self.inner = inner

    def jumped(self, diagram: str, state: str) -> None:
        self.record.path.append(state)
        self.record.graph.append(f"{diagram}/{state}")
        if self.inner:
            self.inner.jumped(diagram, state)

    def transitioned(self, transition: str, diagram: str, state: str) -> None:
        self.record.path.append(state)
        self.record.graph += [f"> {transition} >", f"{diagram}/{state}"]
        if self.inner:
            self.inner.transitioned(transition, diagram, state)

    def firing(self, diagram: str, transition: Transition, event: Event) -> None:
        if self.inner:
            self.inner.firing(diagram, transition, event)

    def event_started(self, event: Event, waited: float) -> None:
        if self.inner:
            self.inner.event_started(event, waited)

    def event_done(self, event: Event, took: float) -> None:
        if self.inner:
            self.inner.event_done(event, took)


class RecordingHeaders(dict[str, str]):
    """The INVITE headers a harness call was given (names lower-case), and their text."""

    def __init__(self, headers: Mapping[str, str]):
        super().__init__((k.lower(), v) for k, v in headers.items())
        self.raw = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    def get(self, key: str, default: str | None = None, /) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


class RecordingB2B:
    """The B2B control of a harness call (:class:`~donkey.dsm.protocols.B2BHandle`).

    It remembers every request in ``record.b2b_calls``; the test plays the
    callee by posting ``B2B.otherReply`` and ``B2B.otherBye`` itself.
    """

    def __init__(self, record: Record):
        self.record = record
        self._headers = InviteHeaders()
        self.callee: tuple[str, str] | None = None  # (remote_party, remote_uri) once dialled
        self.rtp_relay_mode = "RTP_Direct"

    def _note(self, name: str, *args: Any) -> None:
        self.record.b2b_calls.append((name, *args))

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
        self._note(
            "connect_callee",
            remote_party,
            remote_uri,
            {
                "local_party": local_party,
                "local_uri": local_uri,
                "auth_user": auth_user,
                "auth_pwd": auth_pwd,
                "callid": callid,
                "relayed_invite": relayed_invite,
                "rtp_relay": rtp_relay,
                "headers": self._headers.text,
            },
        )
        self.callee = (remote_party, remote_uri)
        self.rtp_relay_mode = "RTP_Relay" if rtp_relay else "RTP_Direct"

    def terminate_other_leg(self) -> None:
        self._note("terminate_other_leg")
        self.callee = None

    def send_reinvite(self, generate_sdp: bool, headers: str = "") -> None:
        self._note("send_reinvite", generate_sdp, headers)

    def set_early_media_relay(self, enabled: bool) -> None:
        self._note("set_early_media_relay", enabled)

    def set_relay_only(self, enabled: bool) -> None:
        self._note("set_relay_only", enabled)

    def add_header(self, header: str) -> None:
        self._headers.add(header)

    def remove_header(self, name: str) -> None:
        self._headers.remove(name)

    def clear_headers(self) -> None:
        self._headers.clear()

    def set_headers(self, headers: str, replace_crlf: bool = False) -> None:
        self._headers.set(headers, replace_crlf)

    @property
    def headers(self) -> str:
        return self._headers.text

    def relay_event(self, params: Mapping[str, str]) -> bool:
        self._note("relay_event", dict(params))
        return self.callee is not None


class RecordingCall:
    """A SIP call handle (:class:`~donkey.dsm.protocols.CallHandle`) that remembers
    what the script asked of it.

    It has exactly the protocol's methods: a script that reaches for anything
    else fails here as it would on the wire.
    """

    def __init__(
        self,
        record: Record,
        *,
        user: str = "",
        domain: str = "127.0.0.1",
        remote_party: str = "",
        local_party: str = "",
        callid: str = "",
        remote_tag: str = "remote-tag",
        headers: Mapping[str, str] | None = None,
    ):
        self.record = record
        self.direction = "in"
        self.user = user
        self.domain = domain
        self.callid = callid or f"call-{id(self):x}"
        self.remote_tag = remote_tag
        self.local_uri = f"sip:{user}@{domain}"
        self.local_party = local_party or f"<{self.local_uri}>"
        self.remote_uri = "sip:caller@127.0.0.1"
        self.remote_party = remote_party or f"<{self.remote_uri}>"
        self.ruri = self.local_uri
        self.request_headers: RecordingHeaders | None = (
            RecordingHeaders(headers) if headers is not None else None
        )
        self.other_id = ""
        self.b2b = RecordingB2B(record)
        self.connected = False
        self.replied = False  # any reply sent to the INVITE
        self.accepted = False  # answered, or early media sent

    def accept_invite(self, code: int = 200, reason: str = "OK", headers: str = "") -> bool:
        self.record.replies.append((code, reason))
        self.record.call_calls.append(("accept_invite", code, reason, headers))
        self.replied = self.accepted = True
        if code >= 200:
            self.connected = True
        return True

    def reply(self, code: int, reason: str, headers: str = "") -> None:
        self.record.replies.append((code, reason))
        self.record.call_calls.append(("reply", code, reason, headers))
        self.replied = True

    def bye(self, headers: str = "") -> None:
        self.record.byes += 1
        self.record.call_calls.append(("bye", headers))

    def refer(self, target: str, expires: int = 0) -> None:
        self.record.call_calls.append(("refer", target, expires))

    def send_request(
        self,
        method: str,
        headers: str = "",
        body: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self.record.call_calls.append(("send_request", method, headers, body, content_type))

    def reply_request(
        self, request: Mapping[str, Any], code: int, reason: str, headers: str = ""
    ) -> None:
        self.record.call_calls.append(("reply_request", dict(request), code, reason, headers))


class _Routing:
    """The harness's playlist stand-in for ``media.input``/``output`` (silent, discards)."""

    def read(self) -> bytes | None:
        return None

    def write(self, frame: bytes) -> None:
        pass


class RecordingMedia:
    """A media handle (:class:`~donkey.dsm.protocols.MediaHandle`) that checks files
    and prompts exist and remembers what was asked of it.

    Every protocol method appends ``(name, *arguments)`` to
    ``record.media_calls``; a method the protocol does not have is an
    AttributeError, as on a live call.  Prompts are the bundle's
    (:class:`~donkey.dsm.loader.PromptConfig`): an unknown prompt or set is
    a LookupError, the ``prompt`` exception in the script.
    """

    def __init__(self, record: Record, prompts: PromptConfig | None = None):
        self.record = record
        self.prompts = prompts or PromptConfig()
        self.prompt_set: str | None = None
        self.record_length_ms = 0
        self.record_data_size = 0
        self._playlist = _Routing()
        self.input: AudioSource | None = self._playlist
        self.output: AudioSink | None = self._playlist

    def _note(self, name: str, *args: Any) -> None:
        self.record.media_calls.append((name, *args))

    # -- the playlist --------------------------------------------------------
    def play_file(self, path: str, loop: bool = False, front: bool = False) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(2, "No such file", path)
        self.record.played.append(path)
        self._note("play_file", path, loop, front)

    def play_prompt(self, name: str, front: bool = False, loop: bool = False) -> None:
        path = dict(self.prompts.prompts_of(self.prompt_set)).get(name)
        if path is None or not os.path.isfile(path):
            raise LookupError(name)
        self.record.played.append(f"prompt:{name}")
        self._note("play_prompt", name, front, loop)

    def set_prompt_set(self, name: str) -> None:
        if name not in self.prompts.set_names():
            raise LookupError(name)
        self.prompt_set = name
        self._note("set_prompt_set", name)

    def play_silence(self, ms: int, front: bool = False) -> None:
        self._note("play_silence", ms, front)

    def play_ringtone(
        self,
        length_ms: int,
        on_ms: int,
        off_ms: int,
        f: int,
        f2: int = 0,
        front: bool = False,
    ) -> None:
        self._note("play_ringtone", length_ms, on_ms, off_ms, f, f2, front)

    def add_separator(self, id: str, front: bool = False) -> None:
        self._note("add_separator", id, front)

    def flush_playlist(self) -> None:
        self._note("flush_playlist")

    def set_in_out_playlist(self) -> None:
        self.input = self.output = self._playlist
        self._note("set_in_out_playlist")

    def set_input_playlist(self) -> None:
        self.input = self._playlist
        self._note("set_input_playlist")

    def set_output_playlist(self) -> None:
        self.output = self._playlist
        self._note("set_output_playlist")

    # -- recording -----------------------------------------------------------
    def record_file(self, path: str) -> None:
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise FileNotFoundError(2, "No such directory", path)
        self._note("record_file", path)

    def stop_record(self) -> None:
        self._note("stop_record")

    # -- routing -------------------------------------------------------------
    def set_input(self, source: AudioSource | None) -> None:
        self.input = source
        self._note("set_input", source)

    def set_output(self, sink: AudioSink | None) -> None:
        self.output = sink
        self._note("set_output", sink)

    def connect(self) -> None:
        self._note("connect")

    def disconnect(self) -> None:
        self._note("disconnect")

    # -- switches ------------------------------------------------------------
    def enable_receiving(self) -> None:
        self._note("enable_receiving")

    def disable_receiving(self) -> None:
        self._note("disable_receiving")

    def enable_force_dtmf_receiving(self) -> None:
        self._note("enable_force_dtmf_receiving")

    def disable_force_dtmf_receiving(self) -> None:
        self._note("disable_force_dtmf_receiving")

    def mute(self) -> None:
        self._note("mute")

    def unmute(self) -> None:
        self._note("unmute")

    def enable_dtmf_detection(self) -> None:
        self._note("enable_dtmf_detection")

    def disable_dtmf_detection(self) -> None:
        self._note("disable_dtmf_detection")

    def monitor_rtp_timeout(self, enabled: bool) -> None:
        self._note("monitor_rtp_timeout", enabled)

    # -- DTMF out ------------------------------------------------------------
    def send_dtmf(self, key: int, duration_ms: int = 500) -> None:
        self._note("send_dtmf", key, duration_ms)

    def send_dtmf_sequence(self, sequence: str, duration_ms: int = 500) -> None:
        self._note("send_dtmf_sequence", sequence, duration_ms)


if TYPE_CHECKING:  # mypy holds the fakes to the protocols the live classes implement

    def _implements(
        call: RecordingCall, media: RecordingMedia, b2b: RecordingB2B
    ) -> tuple[CallHandle, MediaHandle, B2BHandle]:
        return call, media, b2b


class HarnessSession:
    """A running session plus helpers to feed it events."""

    def __init__(
        self,
        harness: Harness,
        session: Session,
        record: Record,
        call: RecordingCall | None = None,
        media: RecordingMedia | None = None,
    ):
        self.harness = harness
        self.session = session
        self.record = record
        #: the fakes behind ``session.call`` and ``session.media`` (None in a system DSM)
        self.call = call
        self.media = media

    @property
    def path(self) -> list[str]:
        return self.record.path

    @property
    def state(self) -> str:
        return self.session.engine.state_name

    @property
    def vars(self) -> dict[str, str]:
        return self.session.vars

    @property
    def ended(self) -> bool:
        return self.session.ended

    def post(self, event_type: str, **params: str) -> None:
        self.session.post(Event(event_type, dict(params)))

    def key(self, key: int | str, duration: int = 100) -> None:
        k = str(key) if isinstance(key, int) else str(ev.KEY_NAMES.index(key))
        self.post(ev.KEY, key=k, duration=str(duration))

    def hangup(self) -> None:
        self.post(ev.HANGUP, headers="")

    def event(self, **params: str) -> None:
        self.post(ev.EVENT, **params)

    def answer(self) -> None:
        """The far end of an outbound leg answers (200 OK)."""
        if not self.session.ended:
            if self.call is not None:
                self.call.connected = True
            callflow.outbound_connected(self.session)


class _HarnessRuntime(Runtime):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.records: dict[int, Record] = {}
        self.next_record: Record | None = None  # for the session being made

    def state_observer(self, session: Session) -> StateObserver:
        record = self.next_record or Record()
        self.next_record = None
        self.records[id(session)] = record
        return _Recorder(record, super().state_observer(session))


class Harness:
    """A runtime on a fake clock with recording SIP and media handles."""

    def __init__(
        self,
        *,
        monitoring: MonitoringSink | None = None,
        main_config: Mapping[str, str] | None = None,
        di: DIHost | None = None,
        conference: ConferenceRooms | None = None,
    ):
        self.clock = task.Clock()
        self.log_events: list[dict[str, Any]] = []
        self.runtime = _HarnessRuntime(
            self.clock,
            monitoring=monitoring,
            di=di,
            conference=conference,
            log_observer=self._observe,
            main_config=main_config,
        )
        self.runtime.dialer = self._dialout
        self.dialed: list[HarnessSession] = []
        self.answer_dialouts = True

    def _dialout(self, request: DialRequest) -> str:
        """An outbound leg: ``invite`` now; answered (``sessionStart``) on the next tick."""
        bundle = next((b for b in self.runtime.bundles.values() if request.app in b.diagrams), None)
        if bundle is None:
            raise LookupError(f"application '{request.app}' not loaded")
        record = Record()
        call = RecordingCall(
            record,
            user=request.caller,
            domain=request.domain,
            local_party=request.from_hdr,
            remote_party=request.to_hdr,
        )
        call.direction = "out"
        call.ruri = request.r_uri
        media = RecordingMedia(record, bundle.prompts)
        self.runtime.next_record = record
        session = self.runtime.new_session(
            bundle,
            ltag=request.ltag or None,
            call=call,
            media=media,
            variables=request.variables,
        )
        leg = HarnessSession(self, session, record, call, media)
        record.dialouts.append(
            {"r_uri": request.r_uri, "from": request.from_hdr, "to": request.to_hdr}
        )
        self.dialed.append(leg)

        def begin() -> None:
            callflow.start_outbound(session, request.app)
            if self.answer_dialouts:
                self.clock.callLater(0, leg.answer)

        self.clock.callLater(0, begin)
        return session.ltag

    def _observe(self, event: dict[str, Any]) -> None:
        self.log_events.append(event)
        source = event.get("log_source")
        record = self.runtime.records.get(id(source)) if source is not None else None
        if record is not None:
            record.logs.append(formatEvent(event))
            if "dsm_vars" in event:
                record.vars_logged.append(event["dsm_vars"])

    def load(self, name: str, conf: Mapping[str, str], base_dir: str = ".") -> AppBundle:
        return self.runtime.load_bundle(name, conf, base_dir)

    def _record_for(self, session: Session) -> Record:
        return self.runtime.records.setdefault(id(session), Record())

    def system(self, diagram: str, bundle: str = "main") -> HarnessSession:
        """Start ``diagram`` as a system DSM (first event: ``startup``)."""
        before = set(self.runtime.sessions.by_tag)
        ok, status = self.runtime.create_system_dsm(bundle, diagram)
        if not ok:
            raise LookupError(status)
        new = [s for t, s in self.runtime.sessions.by_tag.items() if t not in before]
        session = new[0] if new else self.runtime.system_sessions[-1]
        return HarnessSession(self, session, self._record_for(session))

    def call(
        self,
        diagram: str,
        bundle: str = "main",
        *,
        user: str = "",
        run_invite: bool | None = None,
        variables: Mapping[str, str] | None = None,
        **call_kwargs: Any,
    ) -> HarnessSession:
        """An inbound call to ``diagram``: ``invite`` (if enabled), then ``sessionStart``.

        Like a real call, the session is answered after the ``invite`` event
        unless the script set ``$connect_session=0`` or replied itself.
        """
        app = self.runtime.bundles[bundle]
        record = Record()
        call = RecordingCall(record, user=user, **call_kwargs)
        media = RecordingMedia(record, app.prompts)
        self.runtime.next_record = record
        session = self.runtime.new_session(
            app, call=call, media=media, variables=dict(variables or {})
        )
        invite = app.run_invite_event if run_invite is None else run_invite
        callflow.start_inbound(session, diagram, invite)
        return HarnessSession(self, session, record, call, media)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def errors(self) -> list[str]:
        """Errors the engine or runtime logged (not the script's own log() output)."""
        return [
            formatEvent(e)
            for e in self.log_events
            if e.get("log_level") in (LogLevel.error, LogLevel.critical) and not e.get("dsm_log")
        ]
