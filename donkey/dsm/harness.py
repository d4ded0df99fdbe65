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
from typing import Any

from twisted.internet import task
from twisted.logger import LogLevel, formatEvent

from donkey.dsm import callflow
from donkey.dsm import events as ev
from donkey.dsm.engine import StateObserver
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle
from donkey.dsm.runtime import Runtime


@dataclass
class Record:
    """What one session did, in order."""

    path: list[str] = field(default_factory=list)  # states entered ("STATE")
    graph: list[str] = field(default_factory=list)  # "diag/STATE" and "> name >"
    replies: list[tuple[int, str]] = field(default_factory=list)
    byes: int = 0
    played: list[str] = field(default_factory=list)
    media_calls: list[tuple] = field(default_factory=list)
    dialouts: list[dict[str, str]] = field(default_factory=list)
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


class RecordingCall:
    """A SIP call handle that remembers what the script asked of it."""

    direction = "in"

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
    ):
        self.record = record
        self.user = user
        self.domain = domain
        self.callid = callid or f"call-{id(self):x}"
        self.remote_tag = remote_tag
        self.local_uri = f"sip:{user}@{domain}"
        self.local_party = local_party or f"<{self.local_uri}>"
        self.remote_uri = "sip:caller@127.0.0.1"
        self.remote_party = remote_party or f"<{self.remote_uri}>"
        self.ruri = self.local_uri
        self.connected = False
        self.replied = False  # any reply sent to the INVITE
        self.accepted = False  # answered, or early media sent

    def accept_invite(self, code: int = 200, reason: str = "OK", headers: str = "") -> None:
        self.record.replies.append((code, reason))
        self.replied = self.accepted = True
        if code >= 200:
            self.connected = True

    def reply(self, code: int, reason: str, headers: str = "") -> None:
        self.record.replies.append((code, reason))
        self.replied = True

    def bye(self, headers: str = "") -> None:
        self.record.byes += 1


class RecordingMedia:
    """A media handle that checks files exist and remembers what was played."""

    def __init__(self, record: Record):
        self.record = record
        self.record_length_ms = 0
        self.record_data_size = 0

    def play_file(self, path: str, loop: bool = False, front: bool = False) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(2, "No such file", path)
        self.record.played.append(path)
        self.record.media_calls.append(("play_file", path, loop, front))

    def play_prompt(self, name: str, front: bool = False, loop: bool = False) -> None:
        self.record.played.append(f"prompt:{name}")

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def recorded(*args: Any, **kwargs: Any) -> None:
            self.record.media_calls.append((name, *args, *kwargs.values()))

        return recorded


class HarnessSession:
    """A running session plus helpers to feed it events."""

    def __init__(self, harness: Harness, session: Any, record: Record):
        self.harness = harness
        self.session = session
        self.record = record

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
            self.session.call.connected = True
            callflow.outbound_connected(self.session)


class _HarnessRuntime(Runtime):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.records: dict[int, Record] = {}
        self.next_record: Record | None = None  # for the session being made

    def state_observer(self, session):
        record = self.next_record or Record()
        self.next_record = None
        self.records[id(session)] = record
        return _Recorder(record, super().state_observer(session))


class Harness:
    """A runtime on a fake clock with recording SIP and media handles."""

    def __init__(
        self,
        *,
        monitoring: Any = None,
        main_config: Mapping[str, str] | None = None,
        di: Any = None,
        conference: Any = None,
    ):
        self.clock = task.Clock()
        self.log_events: list[dict] = []
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

    def _dialout(self, request: Any) -> str:
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
        self.runtime.next_record = record
        session = self.runtime.new_session(
            bundle,
            ltag=request.ltag or None,
            call=call,
            media=RecordingMedia(record),
            variables=request.variables,
        )
        leg = HarnessSession(self, session, record)
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

    def _observe(self, event: dict) -> None:
        self.log_events.append(event)
        source = event.get("log_source")
        record = self.runtime.records.get(id(source)) if source is not None else None
        if record is not None:
            record.logs.append(formatEvent(event))
            if "dsm_vars" in event:
                record.vars_logged.append(event["dsm_vars"])

    def load(self, name: str, conf: Mapping[str, str], base_dir: str = ".") -> AppBundle:
        return self.runtime.load_bundle(name, conf, base_dir)

    def _record_for(self, session: Any) -> Record:
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
        media = RecordingMedia(record)
        self.runtime.next_record = record
        session = self.runtime.new_session(
            app, call=call, media=media, variables=dict(variables or {})
        )
        invite = app.run_invite_event if run_invite is None else run_invite
        callflow.start_inbound(session, diagram, invite)
        return HarnessSession(self, session, record)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def errors(self) -> list[str]:
        """Errors the engine or runtime logged (not the script's own log() output)."""
        return [
            formatEvent(e)
            for e in self.log_events
            if e.get("log_level") in (LogLevel.error, LogLevel.critical) and not e.get("dsm_log")
        ]
