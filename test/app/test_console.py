"""The console's pages and event stream, on a harness runtime and twisted.web's test helpers."""

from __future__ import annotations

import json

from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.test.requesthelper import DummyRequest

from donkey.app.console.events import CallWatch, EventStream
from donkey.monitoring.store import MonitoringStore


class FakeEngine:
    def __init__(self) -> None:
        from donkey.dsm.engine import StateObserver

        self.observer = StateObserver()
        self.diagrams: dict = {}


class FakeSession:
    def __init__(self, ltag: str) -> None:
        self.ltag = ltag
        self.system = False
        self.ended = False
        self.vars = {"pin": "<b>1</b>", "config.x": "hidden"}
        self.engine = FakeEngine()


class FakeRuntime:
    def __init__(self) -> None:
        self.sessions = type("S", (), {"by_tag": {}})()
        self.monitoring = None
        self.dialer = None
        self.apps: dict = {}


class WatchTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MonitoringStore(self.clock)
        self.runtime = FakeRuntime()
        self.watch = CallWatch(self.runtime, self.store, self.clock)  # type: ignore[arg-type]
        self.sink = self.watch.install()

    def start_call(self, ltag: str = "c1") -> FakeSession:
        session = FakeSession(ltag)
        self.runtime.sessions.by_tag[ltag] = session
        self.sink.set(ltag, "app", "quiz")
        return session

    def test_a_call_is_followed_from_its_first_monitoring_write(self):
        """The console knows a call's state and since when as soon as the call writes monitoring."""
        session = self.start_call()
        session.engine.observer.jumped("quiz", "START")
        self.clock.advance(2)
        session.engine.observer.transitioned("go", "quiz", "ENTER_PIN")
        record = self.watch.record("c1")
        assert record is not None
        self.assertEqual((record.state, record.state_since), ("ENTER_PIN", 2))
        self.assertEqual([s.target for s in record.history], ["START", "ENTER_PIN"])
        self.assertEqual(self.store.get_single("c1", "app"), "quiz")

    def test_the_event_stream_pushes_one_message_per_burst_of_changes(self):
        """A page's event stream gets the snapshot at once and once more after a burst."""
        session = self.start_call()
        request = DummyRequest([b""])
        stream = EventStream(
            self.watch, "c1", lambda: {"state": session.engine.observer.record.state}
        )
        stream.render_GET(request)
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-type")[0][:17], b"text/event-stream"
        )
        before = len(request.written)
        session.engine.observer.jumped("quiz", "START")
        session.engine.observer.transitioned("go", "quiz", "ENTER_PIN")
        self.clock.advance(0.1)
        messages = [w for w in request.written[before:] if w.startswith(b"data: ")]
        self.assertEqual(len(messages), 1)
        self.assertEqual(json.loads(messages[0][6:]), {"state": "ENTER_PIN"})
        request.finish()

    def test_variables_of_a_finished_call_stay_visible_until_the_store_drops_it(self):
        """After the call ends its variables are still shown; after garbage collection, not."""
        self.start_call()
        self.sink.mark_finished("c1")
        record = self.watch.record("c1")
        assert record is not None
        self.assertEqual(record.variables(), {"pin": "<b>1</b>"})
        self.store.clear_finished()
        self.assertIsNone(self.watch.record("c1"))

    def test_a_transition_step_names_its_event_and_the_variables_it_changed(self):
        """Like donkeysm-run --trace, the call page's history shows the event and what changed."""
        from donkey.dsm.events import Event

        session = self.start_call()
        observer = session.engine.observer
        observer.jumped("quiz", "ENTER_PIN")
        observer.firing("quiz", None, Event("key", {"key": "5"}))
        observer.transitioned("pressed a number", "quiz", "TEST_PIN")
        session.vars["entered_pin"] = "5"
        observer.event_done(Event("key", {"key": "5"}), 0.0)
        record = self.watch.record("c1")
        assert record is not None
        step = record.history[-1]
        self.assertEqual((step.event, step.changed), ("key(key=5)", "$entered_pin='5'"))
