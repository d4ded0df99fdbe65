"""Prometheus metrics at ``GET /metrics``: calls, DSM states and transitions, RTP, the reactor.

The app layer is the only room that sees the runtime, the calls, the SIP
stack and the media sessions together, so the collectors live here.  Two
kinds, chosen by what each figure costs:

- counters and histograms updated as things happen, through hooks that
  already exist (a :class:`~donkey.dsm.engine.StateObserver` per session,
  ``runtime.on_session_end``, the XML-RPC resource's ``on_method``), one
  cheap call each;
- figures read at scrape time (calls active, calls in each state, RTP
  packet counters, CPS) by :class:`_LiveCollector`: nothing per packet,
  the media sessions already count.

Every label set is bounded: app, diagram and state names come from the
loaded scripts, codes from SIP, methods from the XML-RPC method table
(unknown names are one label value).  No call ids.  The registry is this
server's own (no process-wide default registry), so tests can run several.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.web import resource, server

from donkey.app.call import DSMCall
from donkey.dsm.diagram import Action, Transition, rewrite_actions
from donkey.dsm.engine import StateObserver
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle
from donkey.dsm.session import Session

if TYPE_CHECKING:  # pragma: no cover
    from donkey.app.controller import CallController
    from donkey.dsm.runtime import Runtime
    from donkey.sip.stack import SipStack

#: the DSM modules whose actions are timed: the database and HTTP
TIMED_MODULES = ("mod_mysql", "mod_curl")

#: seconds: from sub-millisecond (an event's queue wait) to a slow DB or HTTP peer
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: the RtpStats fields exported, and the metric each one becomes
RTP_COUNTERS = (
    ("packets_sent", "donkey_rtp_packets_sent", "RTP packets sent"),
    ("packets_received", "donkey_rtp_packets_received", "RTP packets received"),
    ("packets_lost", "donkey_rtp_packets_lost", "RTP packets lost (sequence gaps seen)"),
    ("late", "donkey_rtp_packets_late", "RTP packets dropped as late (out of order, duplicates)"),
)


class Metrics:
    """This server's collectors and the hooks that feed them.

    Make it before the bundles load (it times mod_mysql/mod_curl actions
    from a bundle hook), then hand :meth:`page` to the web root and
    :meth:`lag_probe` to the service tree.
    """

    def __init__(
        self,
        runtime: Runtime,
        controller: CallController,
        stack: SipStack | None,
        clock: Any,
    ) -> None:
        self.runtime = runtime
        self.controller = controller
        self.stack = stack
        self.clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_total = Counter(
            "donkey_calls", "Calls started", ["app", "direction"], registry=r
        )
        self.calls_finished = Counter(
            "donkey_calls_finished",
            "Calls ended, by final SIP code (none: ended before any final reply)",
            ["app", "direction", "code"],
            registry=r,
        )
        self.transitions = Counter(
            "donkey_dsm_transitions", "DSM transitions taken", ["app", "from", "to"], registry=r
        )
        self.queue_wait = Histogram(
            "donkey_dsm_event_queue_wait_seconds",
            "How long an event waited in its session's queue",
            ["app"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.action_latency = Histogram(
            "donkey_dsm_action_seconds",
            "How long the actions run for one event took (waits on DB/HTTP included)",
            ["app"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.module_latency = Histogram(
            "donkey_module_action_seconds",
            "Latency of database (mod_mysql) and HTTP (mod_curl) actions",
            ["module", "action"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reactor_lag = Histogram(
            "donkey_reactor_lag_seconds",
            "How late a periodic reactor timer fired (the event loop's responsiveness)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.xmlrpc_requests = Counter(
            "donkey_xmlrpc_requests", "XML-RPC requests by method", ["method"], registry=r
        )
        #: RTP counters of calls that have ended (live calls are read at scrape time)
        self.rtp_finished: dict[str, int] = {field: 0 for field, _, _ in RTP_COUNTERS}
        r.register(_LiveCollector(self))
        runtime.state_watchers.append(self._watch)
        runtime.on_session_end.append(self._session_ended)
        runtime.bundle_hooks.append(self.instrument)

    # -- hooks -----------------------------------------------------------------
    def _watch(self, session: Session) -> StateObserver | None:
        if session.system:
            return None
        call = session.call
        if isinstance(call, DSMCall):
            self.calls_total.labels(call.app, call.leg.direction).inc()
        return _SessionMetrics(self, session)

    def _session_ended(self, session: Session) -> None:
        call = session.call
        if session.system or not isinstance(call, DSMCall):
            return
        code = str(call.final_code) if call.final_code is not None else "none"
        self.calls_finished.labels(call.app, call.direction, code).inc()
        stats = call.media.stats
        for field, _, _ in RTP_COUNTERS:
            self.rtp_finished[field] += getattr(stats, field)

    def count_xmlrpc(self, method: str) -> None:
        """The XML-RPC resource's ``on_method``."""
        self.xmlrpc_requests.labels(method).inc()

    def instrument(self, bundle: AppBundle) -> None:
        """Time every mod_mysql and mod_curl action of ``bundle`` (a runtime bundle hook).

        The diagrams' states are replaced by copies whose actions are
        wrapped; the diagrams themselves stay the ones the sessions use.
        """
        rewrite_actions(bundle.diagrams.values(), self._wrap)

    def _wrap(self, action: Action) -> Action:
        spec = action.spec
        if spec.module not in TIMED_MODULES:
            return action
        timed = self._timed(spec.func, self.module_latency.labels(spec.module, spec.name))
        return dataclasses.replace(action, spec=dataclasses.replace(spec, func=timed))

    def _timed(self, func: Callable[..., Any], histogram: Any) -> Callable[..., Any]:
        clock = self.clock

        def run(session: Any, event: Any, args: Any) -> Any:
            start = clock.seconds()
            try:
                result = func(session, event, args)
            except Exception:
                histogram.observe(clock.seconds() - start)
                raise
            if isinstance(result, Deferred):

                def done(outcome: Any) -> Any:
                    histogram.observe(clock.seconds() - start)
                    return outcome

                return result.addBoth(done)
            histogram.observe(clock.seconds() - start)
            return result

        return run

    # -- what the app wires ----------------------------------------------------
    def page(self) -> resource.Resource:
        """The ``/metrics`` resource."""
        return MetricsPage(self.registry)

    def lag_probe(self, interval: float = 0.25) -> service.Service:
        """The service measuring reactor lag every ``interval`` seconds."""
        return ReactorLagProbe(self.clock, self.reactor_lag, interval)


class _SessionMetrics(StateObserver):
    """One session's transitions and event timings into the counters and histograms."""

    __slots__ = ("metrics", "session")

    def __init__(self, metrics: Metrics, session: Session) -> None:
        self.metrics = metrics
        self.session = session

    def firing(self, diagram: str, transition: Transition, event: Event) -> None:
        self.metrics.transitions.labels(
            self.session.start_diagram, transition.source, transition.target
        ).inc()

    def event_started(self, event: Event, waited: float) -> None:
        self.metrics.queue_wait.labels(self.session.start_diagram).observe(waited)

    def event_done(self, event: Event, took: float) -> None:
        self.metrics.action_latency.labels(self.session.start_diagram).observe(took)


class _LiveCollector:
    """The figures read at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # not known before the first scrape; the registry then asks collect()

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        active = GaugeMetricFamily(
            "donkey_calls_active", "Calls up now", labels=["app", "direction"]
        )
        counts: dict[tuple[str, str], int] = {}
        for app in m.runtime.apps:
            for direction in ("in", "out"):
                counts[(app, direction)] = 0
        calls = list(m.controller.calls.values())
        for call in calls:
            key = (call.app, call.direction)
            counts[key] = counts.get(key, 0) + 1
        for (app, direction), n in sorted(counts.items()):
            active.add_metric([app, direction], n)
        yield active

        in_state = GaugeMetricFamily(
            "donkey_calls_in_state",
            "Call sessions in each state of each app's diagrams",
            labels=["app", "diagram", "state"],
        )
        states: dict[tuple[str, str, str], int] = {}
        for bundle in m.runtime.bundles.values():
            for diagram in bundle.diagrams.values():
                if diagram.name in bundle.system_dsms:
                    continue
                for state in diagram.states:
                    states[(diagram.name, diagram.name, state)] = 0
        for session in list(m.runtime.sessions.by_tag.values()):
            engine = session.engine
            if session.system or session.ended or engine.diagram is None:
                continue
            where = (session.start_diagram, engine.diagram.name, engine.state_name)
            states[where] = states.get(where, 0) + 1
        for labels, n in sorted(states.items()):
            in_state.add_metric(list(labels), n)
        yield in_state

        for field, name, doc in RTP_COUNTERS:
            total = m.rtp_finished[field] + sum(getattr(c.media.stats, field) for c in calls)
            family = CounterMetricFamily(name, doc)
            family.add_metric([], total)
            yield family

        jitter = GaugeMetricFamily(
            "donkey_rtp_jitter_seconds",
            "RFC 3550 interarrival jitter of the received RTP, over the live calls",
            labels=["stat"],
        )
        values = [c.media.rtp_jitter_seconds() for c in calls]
        jitter.add_metric(["max"], max(values, default=0.0))
        jitter.add_metric(["mean"], sum(values) / len(values) if values else 0.0)
        yield jitter

        if m.stack is not None:
            cps = GaugeMetricFamily("donkey_sip_cps", "New calls in the last second")
            cps.add_metric([], float(m.stack.stats().cps))
            yield cps


class MetricsPage(resource.Resource):
    """``GET /metrics``: the registry in Prometheus's text format, generated per request."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self.registry)


class ReactorLagProbe(service.Service):
    """A timer every ``interval`` seconds; how late it fires is the reactor's lag."""

    def __init__(self, clock: Any, histogram: Histogram, interval: float = 0.25) -> None:
        self.clock = clock
        self.histogram = histogram
        self.interval = interval
        self._loop: LoopingCall | None = None
        self._due = 0.0

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._due = self.clock.seconds()
        self._loop.start(self.interval, now=True)

    def _tick(self) -> None:
        now = self.clock.seconds()
        self.histogram.observe(max(0.0, now - self._due))
        self._due = now + self.interval

    def stopService(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        super().stopService()
