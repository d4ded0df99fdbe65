"""The console's pages: ``/console/`` (apps and calls), an app's graph, a call's page.

Every page is rendered here, with everything that comes from a call
(display names, URIs, variables: hostile input) HTML-escaped; the page's
script swaps in the escaped fragments each Server-Sent Event carries
(:class:`~donkey.app.console.events.EventStream`), so it never builds markup
from call data itself.  Paths::

    /console/                       apps and calls          /console/events
    /console/apps/<app>             graph + live counts     /console/apps/<app>/events
    /console/calls/<ltag>           graph, vars, history    /console/calls/<ltag>/events
    /console/graph/<app>/<diagram>  SVG
    /console/static/...             console.css, console.js

Access is the XML-RPC server's: the console is a page of the control-plane
web root (:class:`donkey.di.web.ControlRoot`), which applies the same
:class:`~donkey.di.xmlrpc.config.AccessPolicy` to every page.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from typing import Any, cast
from urllib.parse import quote

from twisted.python.failure import Failure
from twisted.web import resource, server, static
from twisted.web.resource import IResource

from donkey.app.console.events import CallRecord, CallWatch, EventStream
from donkey.app.console.graph import GraphRenderer
from donkey.dsm.runtime import Runtime
from donkey.monitoring.store import MonitoringStore

__all__ = ["ConsoleResource"]

STATIC = os.path.join(os.path.dirname(__file__), "static")

_e = html.escape


def _url(*parts: str) -> str:
    return "/console/" + "/".join(quote(p, safe="") for p in parts)


def _page(title: str, body: str, **data: str) -> bytes:
    attrs = "".join(f' data-{k.replace("_", "-")}="{_e(v)}"' for k, v in data.items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} · donkey console</title>"
        '<link rel="stylesheet" href="/console/static/console.css"></head>'
        f'<body{attrs}><header><a href="/console/">donkey console</a>'
        f' <span class="title">{_e(title)}</span>'
        '<span id="live" class="live">connecting…</span></header>'
        f"<main>{body}</main>"
        '<script src="/console/static/console.js"></script></body></html>\n'
    ).encode()


def _ago(now: float, then: float | None) -> str:
    if then is None:
        return ""
    return f"{max(0.0, now - then):.0f} s"


class ConsoleResource(resource.Resource):
    """``/console/``: see module docstring.

    :param watch: the live call records.
    :param runtime: the loaded apps.
    :param store: the monitoring store (attributes, finished calls).
    :param graphs: draws diagrams.
    :param alarms: the stuck-call detector (``list_alarms()``), if running.
    """

    def __init__(
        self,
        watch: CallWatch,
        runtime: Runtime,
        store: MonitoringStore,
        graphs: GraphRenderer,
        alarms: Any = None,
    ) -> None:
        super().__init__()
        self.watch = watch
        self.runtime = runtime
        self.store = store
        self.graphs = graphs
        self.alarms = alarms
        self.putChild(b"static", cast(IResource, static.File(STATIC)))

    # -- routing --------------------------------------------------------------------
    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        rest = [p.decode("utf-8", "replace") for p in request.postpath or ()]
        name = path.decode("utf-8", "replace")
        if name == "":
            return _Html(self.index_page)
        if name == "events" and not rest:
            return EventStream(self.watch, "", self.index_snapshot)
        if name == "apps" and rest and rest[0] in self.runtime.apps:
            app = rest[0]
            if rest[1:] == ["events"]:
                return EventStream(self.watch, "", lambda: self.app_snapshot(app))
            if len(rest) == 1:
                return _Html(lambda: self.app_page(app))
        if name == "calls" and rest and self._known(rest[0]):
            ltag = rest[0]
            if rest[1:] == ["events"]:
                return EventStream(self.watch, ltag, lambda: self.call_snapshot(ltag))
            if len(rest) == 1:
                return _Html(lambda: self.call_page(ltag))
        if name == "graph" and len(rest) == 2:
            diagram = self._diagram(rest[0], rest[1])
            if diagram is not None:
                return _Svg(self.graphs, diagram)
        return resource.NoResource("no such console page")

    def render_GET(self, request: server.Request) -> bytes:
        request.redirect(b"/console/")
        return b""

    def _known(self, ltag: str) -> bool:
        return self.watch.record(ltag) is not None or ltag in self.store

    def _diagram(self, app: str, name: str) -> Any:
        entry = self.runtime.apps.get(app)
        return entry[0].diagrams.get(name) if entry is not None else None

    # -- what the pages show ----------------------------------------------------------
    def _attrs(self, ltag: str) -> dict[str, Any]:
        return dict(self.store.get_view(ltag) or {})

    def _calls(self) -> list[str]:
        """Every call the store has (a call: an entry with an ``app``), newest first."""
        return [i for i in reversed(self.store.list()) if "app" in (self.store.get_view(i) or {})]

    def _call_row(self, ltag: str, now: float) -> str:
        a = self._attrs(ltag)
        record = self.watch.record(ltag)
        state = record.state if record else str(a.get("dsm_state", ""))
        ended = (record.ended is not None) if record else ltag in self.store.list_finished()
        since = _ago(now, record.state_since) if record and not ended else ""
        alarm = str(a.get("alarm", "") or "")
        cls = "finished" if ended else ("alarm" if alarm else "up")
        return (
            f'<tr class="{cls}" data-ltag="{_e(ltag)}"><td><a href="{_e(_url("calls", ltag))}">'
            f"{_e(ltag)}</a></td><td>{_e(str(a.get('app', '')))}</td>"
            f"<td>{_e(str(a.get('dir', '')))}</td><td>{_e(str(a.get('from', '')))}</td>"
            f'<td>{_e(str(a.get("to", "")))}</td><td class="state">{_e(state)}</td>'
            f"<td>{since}</td><td>{'ended' if ended else 'up'}</td>"
            f'<td class="alarm">{_e(alarm)}</td></tr>'
        )

    def _calls_table(self, ltags: list[str]) -> str:
        now = self.watch.clock.seconds()
        if not ltags:
            return '<p class="empty">no calls</p>'
        head = "".join(
            f"<th>{h}</th>"
            for h in ("call", "app", "dir", "from", "to", "state", "in state", "", "alarm")
        )
        rows = "".join(self._call_row(t, now) for t in ltags)
        return f'<table class="calls"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    def _state_counts(self, app: str) -> Counter[str]:
        diagram = self.runtime.apps[app][1]
        counts: Counter[str] = Counter()
        for record in self.watch.live():
            if self.store.get_single(record.ltag, "app") == app and record.diagram == diagram:
                counts[record.state] += 1
        return counts

    def _apps_table(self) -> str:
        rows = []
        for app in sorted(self.runtime.apps):
            counts = self._state_counts(app)
            states = ", ".join(f"{_e(s)}: {n}" for s, n in sorted(counts.items()))
            rows.append(
                f'<tr><td><a href="{_e(_url("apps", app))}">{_e(app)}</a></td>'
                f"<td>{sum(counts.values())}</td><td>{states}</td></tr>"
            )
        return (
            '<table class="apps"><thead><tr><th>app</th><th>live calls</th><th>by state</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _alarms(self) -> str:
        if self.alarms is None:
            return ""
        items = self.alarms.list_alarms()
        if not items:
            return '<p class="empty">no alarms</p>'
        rows = "".join(
            f'<li><a href="{_e(_url("calls", ltag))}">{_e(ltag)}</a> {_e(app)}: '
            f'<span class="alarm">{_e(alarms)}</span></li>'
            for ltag, app, alarms, state in items
        )
        return f'<ul class="alarms">{rows}</ul>'

    # index
    def index_snapshot(self) -> dict[str, Any]:
        return {
            "html": {
                "apps": self._apps_table(),
                "calls": self._calls_table(self._calls()),
                "alarms": self._alarms(),
            }
        }

    def index_page(self) -> bytes:
        parts = self.index_snapshot()["html"]
        body = (
            f'<section><h2>Apps</h2><div id="apps">{parts["apps"]}</div></section>'
            f'<section><h2>Alarms</h2><div id="alarms">{parts["alarms"]}</div></section>'
            f'<section><h2>Calls</h2><div id="calls">{parts["calls"]}</div></section>'
        )
        return _page("apps and calls", body, events=_url("events"))

    # an app
    def app_snapshot(self, app: str) -> dict[str, Any]:
        mine = [t for t in self._calls() if self.store.get_single(t, "app") == app]
        return {
            "counts": dict(self._state_counts(app)),
            "html": {"calls": self._calls_table(mine)},
        }

    def app_page(self, app: str) -> bytes:
        diagram = self.runtime.apps[app][1]
        snap = self.app_snapshot(app)
        body = (
            f'<section class="graph"><h2>{_e(diagram)}</h2><div id="graph"></div></section>'
            f'<section><h2>Calls</h2><div id="calls">{snap["html"]["calls"]}</div></section>'
        )
        return _page(
            f"app {app}",
            body,
            events=_url("apps", app, "events"),
            graph=_url("graph", app, diagram),
            page="app",
        )

    # a call
    def call_snapshot(self, ltag: str) -> dict[str, Any]:
        record = self.watch.record(ltag)
        a = self._attrs(ltag)
        app = str(a.get("app", ""))
        diagram = record.diagram if record else str(a.get("dsm_diag", ""))
        state = record.state if record else str(a.get("dsm_state", ""))
        ended = (record.ended is not None) if record else ltag in self.store.list_finished()
        graph = _url("graph", app, diagram) if self._diagram(app, diagram) is not None else ""
        return {
            "ltag": ltag,
            "diagram": diagram,
            "state": state,
            "ended": ended,
            "alarm": str(a.get("alarm", "") or ""),
            "graph": graph,
            "html": {
                "summary": self._summary(ltag, a, record, state, ended),
                "legs": self._legs(ltag, record),
                "vars": self._vars(record),
                "history": self._history(record, a),
                "attrs": self._attr_table(a),
            },
        }

    def _summary(
        self, ltag: str, a: dict[str, Any], record: CallRecord | None, state: str, ended: bool
    ) -> str:
        now = self.watch.clock.seconds()
        rows = [
            ("call", ltag),
            ("app", str(a.get("app", ""))),
            ("direction", str(a.get("dir", ""))),
            ("from", str(a.get("from", ""))),
            ("to", str(a.get("to", ""))),
            ("request URI", str(a.get("ruri", ""))),
            ("state", state),
            ("status", "ended" if ended else "up"),
        ]
        if record is not None:
            end = record.ended if record.ended is not None else now
            rows.append(("age", _ago(end, record.started)))
            if not ended:
                rows.append(("in state for", _ago(now, record.state_since)))
        alarm = str(a.get("alarm", "") or "")
        if alarm:
            rows.append(("alarm", alarm))
        body = "".join(
            f'<tr class="{_e(k.replace(" ", "-"))}"><th>{_e(k)}</th><td>{_e(v)}</td></tr>'
            for k, v in rows
        )
        return f'<table class="summary">{body}</table>'

    def _legs(self, ltag: str, record: CallRecord | None) -> str:
        if record is None:
            return ""
        tags = ([record.parent] if record.parent else []) + list(record.legs)
        if not tags:
            return '<p class="empty">no other legs</p>'
        rows = []
        for tag in tags:
            a = self._attrs(tag)
            leg = self.watch.record(tag)
            state = leg.state if leg else str(a.get("dsm_state", ""))
            rows.append(
                f'<tr data-ltag="{_e(tag)}"><td><a href="{_e(_url("calls", tag))}">{_e(tag)}</a>'
                f'</td><td>{_e(str(a.get("ruri", "")))}</td><td class="state">{_e(state)}</td>'
                f'<td class="alarm">{_e(str(a.get("alarm", "") or ""))}</td></tr>'
            )
        head = "<tr><th>leg</th><th>request URI</th><th>state</th><th>alarm</th></tr>"
        return f'<table class="legs"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'

    def _vars(self, record: CallRecord | None) -> str:
        if record is None:
            return '<p class="empty">not known (the call is older than this console)</p>'
        rows = "".join(
            f"<tr><th>${_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in record.variables().items()
        )
        return f'<table class="vars">{rows}</table>' if rows else '<p class="empty">none</p>'

    def _history(self, record: CallRecord | None, a: dict[str, Any]) -> str:
        if record is None or not record.history:
            graph = a.get("dsm_stategraph")
            if isinstance(graph, list):
                items = "".join(f"<li>{_e(str(x))}</li>" for x in graph[1:])
                return f'<ol class="stategraph">{items}</ol>'
            return '<p class="empty">no transitions seen</p>'
        start = record.started
        rows = []
        for step in reversed(record.history):
            if step.kind == "jump":
                what = f"entered {_e(step.diagram)}"
            else:
                what = _e(step.name)
            source = _e(step.source) + " → " if step.source else ""
            rows.append(
                f'<tr class="{step.kind}"><td>+{step.at - start:.2f} s</td>'
                f"<td>{source}<b>{_e(step.target)}</b></td><td>{what}</td>"
                f"<td><code>{_e(step.event)}</code></td><td><code>{_e(step.on)}</code></td>"
                f"<td>{_e(step.where)}</td><td><code>{_e(step.changed)}</code></td></tr>"
            )
        head = (
            "<tr><th>when</th><th>state</th><th>transition</th><th>event</th><th>on</th>"
            "<th>where</th><th>changed</th></tr>"
        )
        return f'<table class="history"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'

    def _attr_table(self, a: dict[str, Any]) -> str:
        rows = "".join(
            f"<tr><th>{_e(str(k))}</th><td>{_e(str(v))}</td></tr>" for k, v in sorted(a.items())
        )
        return f'<table class="attrs">{rows}</table>'

    def call_page(self, ltag: str) -> bytes:
        snap = self.call_snapshot(ltag)
        parts = snap["html"]
        body = (
            '<div class="columns"><section class="graph"><h2 id="diagram">'
            f'{_e(snap["diagram"])}</h2><div id="graph"></div></section>'
            f'<section><h2>Call</h2><div id="summary">{parts["summary"]}</div>'
            f'<h2>Legs</h2><div id="legs">{parts["legs"]}</div></section></div>'
            f'<section><h2>Transitions</h2><div id="history">{parts["history"]}</div></section>'
            '<div class="columns">'
            f'<section><h2>Variables</h2><div id="vars">{parts["vars"]}</div></section>'
            f'<section><h2>Monitoring</h2><div id="attrs">{parts["attrs"]}</div></section>'
            "</div>"
        )
        return _page(
            f"call {ltag}",
            body,
            events=_url("calls", ltag, "events"),
            graph=snap["graph"],
            state=snap["state"],
            page="call",
        )


class _Html(resource.Resource):
    """A page made when requested."""

    isLeaf = True

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return self.make()


class _Svg(resource.Resource):
    """A diagram's SVG (rendered by ``dot`` in a child process, then cached)."""

    isLeaf = True

    def __init__(self, graphs: GraphRenderer, diagram: Any) -> None:
        super().__init__()
        self.graphs = graphs
        self.diagram = diagram

    def render_GET(self, request: server.Request) -> int:
        request.setHeader(b"content-type", b"image/svg+xml")
        finished = [False]
        request.notifyFinish().addBoth(lambda _: finished.__setitem__(0, True))

        def send(svg: bytes) -> None:
            if not finished[0]:
                request.write(svg)
                request.finish()

        def failed(reason: Failure) -> None:
            if not finished[0]:
                request.setResponseCode(500)
                request.finish()

        self.graphs.svg(self.diagram).addCallbacks(send, failed)
        return server.NOT_DONE_YET
