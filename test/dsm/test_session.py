"""The session: one event at a time, waiting on Deferreds, timers, and ending."""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from test.dsm.helpers import harness_with, write_scripts

# An action that returns the Deferred the test put in the runtime's module state.
WAIT_MODULE = """
from donkey.dsm.module import Module

module = Module("mod_wait")


@module.action("wait.here")
def _wait(session, event, args):
    return session.runtime.module_state("test.deferred", lambda: None)
"""


class SessionQueue(unittest.TestCase):
    def test_events_posted_during_an_event_run_after_it(self):
        """An event a script posts to itself runs only after the rest of the current actions."""
        h = harness_with(
            self,
            s="""
            initial state A;
            transition "first" A - eventTest(#n == 1) / {
              append($log, "a");
              set($n=2);
              postEvent(@local_tag, n);
              append($log, "c");
            } -> A;
            transition "second" A - eventTest(#n == 2) / append($log, "b") -> A;
            """,
        )
        call = h.call("s")
        call.event(n="1")
        self.assertEqual(call.vars["log"], "acb")

    def test_later_events_wait_while_an_action_waits_on_a_deferred(self):
        """While an action waits (a DB query, DI call), the session's next events stay queued."""
        mods = write_scripts(self)
        with open(os.path.join(mods, "mod_wait.py"), "w") as f:
            f.write(WAIT_MODULE)
        h = harness_with(
            self,
            conf={"mod_path": mods},
            s="""
            import(mod_wait);
            initial state A;
            transition "start" A - sessionStart / {
              wait.here();
              append($log, "after-wait,");
            } -> B;
            state B;
            transition "key" B - key / append($log, "key,") -> B;
            """,
        )
        d: Deferred[None] = Deferred()
        h.runtime.module_state("test.deferred", lambda: d)
        call = h.call("s")
        call.key(5)
        self.assertEqual(call.vars.get("log", ""), "")
        self.assertEqual(call.state, "A")
        other = h.call("s")  # other sessions are not held up
        self.assertEqual(other.state, "A")
        d.callback(None)
        self.assertEqual(call.vars["log"], "after-wait,key,")
        self.assertEqual(call.state, "B")

    def test_a_failed_deferred_is_the_scripts_exception(self):
        """A Deferred that fails with a DSM exception is handled by the script's exception transition."""
        from donkey.dsm.errors import DSMException

        mods = write_scripts(self)
        with open(os.path.join(mods, "mod_wait.py"), "w") as f:
            f.write(WAIT_MODULE)
        h = harness_with(
            self,
            conf={"mod_path": mods},
            s="""
            import(mod_wait);
            initial state A;
            transition "start" A - sessionStart / { wait.here(); set($reached=1); } -> B;
            state B;
            transition "err" A - exception / set($type=#type) -> C;
            state C;
            """,
        )
        d: Deferred[None] = Deferred()
        h.runtime.module_state("test.deferred", lambda: d)
        call = h.call("s")
        d.errback(DSMException("file", path="/x"))
        self.assertEqual((call.state, call.vars.get("type")), ("C", "file"))
        self.assertNotIn("reached", call.vars)


class SessionTimers(unittest.TestCase):
    SCRIPT = """
    initial state A;
    transition "start" A - sessionStart / setTimer(1, 5) -> A;
    transition "cancel" A - keyPress(1) / removeTimer(1) -> A;
    transition "fired" A - timerTest(#id == 1) / set($fired=yes) -> A;
    """

    def test_timer_fires_on_the_clock(self):
        """setTimer(1, 5) gives a timer event with #id=1 after five seconds, not before."""
        h = harness_with(self, s=self.SCRIPT)
        call = h.call("s")
        h.advance(4.9)
        self.assertNotIn("fired", call.vars)
        h.advance(0.2)
        self.assertEqual(call.vars["fired"], "yes")

    def test_removed_timer_never_fires(self):
        """removeTimer(1) before it fires means no timer event."""
        h = harness_with(self, s=self.SCRIPT)
        call = h.call("s")
        call.key(1)
        h.advance(10)
        self.assertNotIn("fired", call.vars)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_ending_session_cancels_its_timers(self):
        """A session that ends leaves no timer behind on the clock."""
        h = harness_with(
            self,
            s="""
            initial state A;
            transition "start" A - sessionStart / { setTimer(1, 5); setTimer(2, 9); } -> A;
            transition "bye" A - hangup / stop(false) -> A;
            """,
        )
        call = h.call("s")
        self.assertEqual(len(h.clock.getDelayedCalls()), 2)
        call.hangup()
        self.assertTrue(call.ended)
        self.assertEqual(h.clock.getDelayedCalls(), [])


class SessionEnd(unittest.TestCase):
    SCRIPT = """
    initial state A;
    transition "bye" A - keyPress(1) / stop(true) -> A;
    transition "quiet" A - keyPress(2) / stop(false) -> A;
    transition "destroy" A - beforeDestroy / set($destroyed=yes) -> A;
    """

    def test_stop_true_sends_bye_and_runs_before_destroy(self):
        """stop(true) hangs up with BYE, runs beforeDestroy, and the session is gone."""
        h = harness_with(self, s=self.SCRIPT)
        call = h.call("s")
        ltag = call.session.ltag
        self.assertIn(ltag, h.runtime.sessions.by_tag)
        call.key(1)
        self.assertEqual(call.record.byes, 1)
        self.assertTrue(call.ended)
        self.assertEqual(call.vars["destroyed"], "yes")
        self.assertNotIn(ltag, h.runtime.sessions.by_tag)

    def test_stop_false_sends_no_bye(self):
        """stop(false) ends the session without a BYE (the call is already gone)."""
        h = harness_with(self, s=self.SCRIPT)
        call = h.call("s")
        call.key(2)
        self.assertEqual(call.record.byes, 0)
        self.assertTrue(call.ended)

    def test_events_after_the_end_are_dropped(self):
        """Events posted to an ended session do nothing."""
        h = harness_with(self, s=self.SCRIPT)
        call = h.call("s")
        call.key(2)
        path = list(call.path)
        call.key(1)
        self.assertEqual(call.path, path)
        self.assertEqual(call.record.byes, 0)

    def test_session_end_callbacks_run_once(self):
        """Whoever watches a session (the SIP call) is told once that it ended."""
        h = harness_with(self, s=self.SCRIPT)
        call = h.call("s")
        seen: list[str] = []
        call.session.ending.append(lambda s: seen.append(s.ltag))
        call.key(2)
        call.session.hangup_cleanup()
        self.assertEqual(seen, [call.session.ltag])

    def test_selects_come_from_the_call(self):
        """@user, @callid, @local_tag read the call; a system DSM reads ''."""
        h = harness_with(
            self,
            s="""
            initial state A;
            transition "start" A - sessionStart / { set($u=@user); set($c=@callid); } -> A;
            """,
        )
        call = h.call("s", user="35", callid="abc")
        self.assertEqual((call.vars["u"], call.vars["c"]), ("35", "abc"))
        self.assertEqual(call.session.select("local_tag"), call.session.ltag)
        self.assertEqual(call.session.select("no_such_select"), "")
