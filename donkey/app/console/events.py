"""What the console knows of each call, and the Server-Sent Events that push it to a page.

:class:`CallWatch` keeps one :class:`CallRecord` per call: the state it is
in and since when, the transitions it took (name, the condition that fired
it, ``file:line``), the legs it dialled, and its variables.  It learns about
calls from what is written to the monitoring store (:class:`WatchedStore`
sits between the DSM runtime and the store), chains a
:class:`~donkey.dsm.engine.StateObserver` onto each call's engine for the
transitions, and wraps the runtime's dialer to link a leg to the call that
dialled it.  Nothing here polls: a change schedules one coalesced
notification, and :class:`EventStream` writes it to every page watching.

Records live as long as the monitoring store keeps the call's entry, so a
finished call stays visible until the store's garbage collector drops it.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure
from twisted.web import resource, server

from donkey.dsm.diagram import Transition
from donkey.dsm.engine import StateObserver
from donkey.dsm.events import Event
from donkey.dsm.runtime import Runtime
from donkey.monitoring.store import MonitoringStore

__all__ = ["CallRecord", "CallWatch", "EventStream", "WatchedStore", "Step"]

#: transitions kept per call (the oldest are dropped first)
HISTORY = 200
#: finished calls the watch keeps details of (the store may keep more)
FINISHED_KEPT = 2000
#: seconds between keep-alive comments on an idle event stream
KEEPALIVE = 15.0


class Clock(Protocol):
    """The reactor's time and ``callLater``, or a test's :class:`~twisted.internet.task.Clock`."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, f: Callable[..., Any], /, *a: Any, **kw: Any) -> Any: ...


@dataclass
class Step:
    """One entry of a call's history: a start or jump into a diagram, or a transition."""

    at: float
    kind: str  # "jump" or "transition"
    diagram: str
    source: str
    target: str
    name: str = ""
    on: str = ""  # the conditions that fired it, as written in the script
    where: str = ""  # file:line of the transition
    event: str = ""  # the event that fired it: type(param=value ...)
    changed: str = ""  # the variables its actions (and the new state's enter actions) set

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "diagram": self.diagram,
            "from": self.source,
            "to": self.target,
            "name": self.name,
            "on": self.on,
            "where": self.where,
            "event": self.event,
            "changed": self.changed,
        }


@dataclass
class CallRecord:
    """The console's view of one call (see module docstring)."""

    ltag: str
    started: float
    session: Any = None  # the live Session; None once it ended
    diagram: str = ""
    state: str = ""
    state_since: float = 0.0
    ended: float | None = None
    parent: str = ""
    legs: list[str] = field(default_factory=list)
    history: deque[Step] = field(default_factory=lambda: deque(maxlen=HISTORY))
    final_vars: dict[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        """The call's DSM variables (the bundle's ``config.*`` left out: they are the same
        for every call)."""
        source = self.session.vars if self.session is not None else self.final_vars
        return {k: str(v) for k, v in sorted(source.items()) if not k.startswith("config.")}


class _TraceObserver(StateObserver):
    """Chained in front of a call's own observer: tells the watch, then the original.

    Like ``donkeysm-run --trace``, a transition's step names the event that
    fired it and, once the next one fires (or the event is done), the
    variables it changed.
    """

    __slots__ = ("inner", "watch", "record", "_event", "_before", "_step")

    def __init__(self, inner: StateObserver, watch: CallWatch, record: CallRecord):
        self.inner = inner
        self.watch = watch
        self.record = record
        self._event = ""
        self._before: dict[str, str] | None = None
        self._step: Step | None = None

    def _settle(self) -> None:
        """Note on the last transition's step what its actions changed."""
        step, before, self._step, self._before = self._step, self._before, None, None
        session = self.record.session
        if step is None or before is None or session is None:
            return
        after = session.vars
        changed = [f"${k}={after[k]!r}" for k in sorted(after) if before.get(k) != after[k]]
        changed += [f"${k} unset" for k in sorted(before) if k not in after]
        if changed:
            step.changed = ", ".join(changed)
            self.watch.changed(self.record.ltag)

    def jumped(self, diagram: str, state: str) -> None:
        self.inner.jumped(diagram, state)
        self.watch.stepped(self.record, "jump", "", diagram, state)

    def transitioned(self, transition: str, diagram: str, state: str) -> None:
        self.inner.transitioned(transition, diagram, state)
        self._step = self.watch.stepped(
            self.record, "transition", transition, diagram, state, event=self._event
        )

    def firing(self, diagram: str, transition: Transition, event: Event) -> None:
        self.inner.firing(diagram, transition, event)
        self._settle()
        params = " ".join(f"{k}={v}" for k, v in (event.params or {}).items())
        self._event = f"{event.type}({params})" if params else event.type
        session = self.record.session
        self._before = dict(session.vars) if session is not None else None

    def event_started(self, event: Event, waited: float) -> None:
        self.inner.event_started(event, waited)

    def event_done(self, event: Event, took: float) -> None:
        self.inner.event_done(event, took)
        self._settle()


class CallWatch:
    """Live :class:`CallRecord` of every call, and who wants to hear about changes.

    :param runtime: where a call's session is found by its local tag.
    :param store: the monitoring store (what the console shows besides the records).
    :param clock: time and ``callLater`` (the reactor).
    :param coalesce: seconds a burst of changes is gathered before pages are told.
    """

    def __init__(
        self, runtime: Runtime, store: MonitoringStore, clock: Clock, coalesce: float = 0.05
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.clock = clock
        self.coalesce = coalesce
        self.records: OrderedDict[str, CallRecord] = OrderedDict()
        self._finished: deque[str] = deque()
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self._overview: list[Callable[[], None]] = []
        self._pending: set[str] = set()
        self._timer: IDelayedCall | None = None
        self._inner_dialer: Any = None

    # -- learning about calls --------------------------------------------------------
    def install(self) -> WatchedStore:
        """Put the watch between the runtime and the store, and around its dialer.

        Returns the :class:`WatchedStore` now in ``runtime.monitoring``.  Call after
        whatever sets ``runtime.dialer`` (the call controller).
        """
        watched = WatchedStore(self.store, self)
        self.runtime.monitoring = watched
        self._inner_dialer = self.runtime.dialer
        if self._inner_dialer is not None:
            self.runtime.dialer = self._dial
        return watched

    def _dial(self, request: Any) -> str:
        """The runtime's dialer, noting which call dialled the new leg."""
        ltag = self._inner_dialer(request)
        parent = getattr(request, "parent", "") or ""
        child = self.records.get(ltag)
        if child is not None and parent:
            child.parent = parent
            owner = self.records.get(parent)
            if owner is not None and ltag not in owner.legs:
                owner.legs.append(ltag)
            self.changed(parent)
        return ltag

    def written(self, ident: str) -> None:
        """Something was written to monitoring entry ``ident``."""
        if ident not in self.records:
            session = self.runtime.sessions.by_tag.get(ident)
            if session is None or session.system or session.ended:
                return
            self._track(ident, session)
        self.changed(ident)

    def _track(self, ident: str, session: Any) -> CallRecord:
        now = self.clock.seconds()
        record = CallRecord(ltag=ident, started=now, session=session, state_since=now)
        self.records[ident] = record
        engine = session.engine
        engine.observer = _TraceObserver(engine.observer, self, record)
        return record

    def finished(self, ident: str) -> None:
        """Monitoring entry ``ident`` was marked finished: the call ended."""
        record = self.records.get(ident)
        if record is None or record.ended is not None:
            return
        record.ended = self.clock.seconds()
        if record.session is not None:
            record.final_vars = dict(record.session.vars)
            record.session = None
        self._finished.append(ident)
        while len(self._finished) > FINISHED_KEPT:
            self.records.pop(self._finished.popleft(), None)
        self.changed(ident)

    def stepped(
        self,
        record: CallRecord,
        kind: str,
        name: str,
        diagram: str,
        state: str,
        event: str = "",
    ) -> Step:
        """A call started, jumped or took a transition (from :class:`_TraceObserver`)."""
        now = self.clock.seconds()
        on = where = ""
        if kind == "transition" and record.session is not None:
            on, where = _transition_source(record.session, diagram, record.state, name, state)
        step = Step(
            now, kind, diagram, record.state, state, name=name, on=on, where=where, event=event
        )
        record.history.append(step)
        if state != record.state or diagram != record.diagram:
            record.state_since = now
        record.diagram, record.state = diagram, state
        self.changed(record.ltag)
        return step

    # -- reading ---------------------------------------------------------------------
    def record(self, ident: str) -> CallRecord | None:
        """The record of call ``ident``, while the store still has its entry."""
        record = self.records.get(ident)
        if record is not None and ident not in self.store:
            del self.records[ident]
            return None
        return record

    def live(self) -> list[CallRecord]:
        """Records of the calls still running."""
        return [r for r in self.records.values() if r.ended is None]

    # -- telling pages ---------------------------------------------------------------
    def subscribe(self, ident: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after changes to call ``ident`` (or ``""``: any call).

        Returns the function that unsubscribes.
        """
        targets = self._overview if not ident else self._subscribers.setdefault(ident, [])
        targets.append(callback)

        def unsubscribe() -> None:
            if callback in targets:
                targets.remove(callback)
            if ident and not targets:
                self._subscribers.pop(ident, None)

        return unsubscribe

    def changed(self, ident: str) -> None:
        """Call ``ident`` changed: tell its watchers (and its parent's) shortly."""
        self._pending.add(ident)
        record = self.records.get(ident)
        if record is not None and record.parent:
            self._pending.add(record.parent)
        if self._timer is None:
            self._timer = self.clock.callLater(self.coalesce, self._flush)

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, set()
        for ident in pending:
            for callback in list(self._subscribers.get(ident, ())):
                callback()
        if pending:
            for callback in list(self._overview):
                callback()


def _transition_source(
    session: Any, diagram: str, source: str, name: str, target: str
) -> tuple[str, str]:
    """The conditions and ``file:line`` of transition ``name`` from ``source`` to ``target``."""
    compiled = session.engine.diagrams.get(diagram)
    state = compiled.states.get(source) if compiled is not None else None
    if state is None:
        return "", ""
    for tr in state.transitions:
        if tr.name == name and tr.target == target:
            on = "; ".join(c.text for c in tr.conditions)
            if tr.is_exception:
                on = "exception" + ("; " + on if on else "")
            return on, str(tr.location)
    return "", ""


class WatchedStore:
    """The monitoring store as the runtime writes to it, telling the watch each time.

    Implements :class:`~donkey.dsm.protocols.MonitoringSink`; reads go to the
    store itself.
    """

    def __init__(self, store: MonitoringStore, watch: CallWatch) -> None:
        self.store = store
        self.watch = watch

    def set(self, ident: str, key: str, value: Any) -> None:
        self.store.set(ident, key, value)
        self.watch.written(ident)

    def add(self, ident: str, key: str, value: Any) -> None:
        self.store.add(ident, key, value)
        self.watch.written(ident)

    def update(self, ident: str, attributes: Mapping[str, Any]) -> None:
        self.store.update(ident, attributes)
        self.watch.written(ident)

    def inc(self, kind: str, name: str) -> int:
        return self.store.inc(kind, name)

    def dec(self, kind: str, name: str) -> int:
        return self.store.dec(kind, name)

    def mark_finished(self, ident: str) -> None:
        self.store.mark_finished(ident)
        self.watch.finished(ident)


class EventStream(resource.Resource):
    """``text/event-stream`` of one subject: a JSON message now and after every change.

    :param watch: where changes come from.
    :param ident: the call to follow, or ``""`` for the overview (any call).
    :param snapshot: makes the message (a JSON-able dict) when it is sent.
    """

    isLeaf = True

    def __init__(
        self, watch: CallWatch, ident: str, snapshot: Callable[[], dict[str, Any]]
    ) -> None:
        super().__init__()
        self.watch = watch
        self.ident = ident
        self.snapshot = snapshot

    def render_GET(self, request: server.Request) -> int:
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-accel-buffering", b"no")
        open_ = [True]
        keepalive: list[Any] = []

        def send() -> None:
            if open_[0]:
                data = json.dumps(self.snapshot(), separators=(",", ":"))
                request.write(b"data: " + data.encode("utf-8") + b"\n\n")

        def ping() -> None:
            if open_[0]:
                request.write(b": keep-alive\n\n")
                keepalive[:] = [self.watch.clock.callLater(KEEPALIVE, ping)]

        unsubscribe = self.watch.subscribe(self.ident, send)

        def closed(result: Failure | None) -> None:
            open_[0] = False
            unsubscribe()
            for call in keepalive:
                if call.active():
                    call.cancel()

        request.notifyFinish().addBoth(closed)
        request.write(b"retry: 2000\n\n")
        send()
        keepalive.append(self.watch.clock.callLater(KEEPALIVE, ping))
        return server.NOT_DONE_YET
