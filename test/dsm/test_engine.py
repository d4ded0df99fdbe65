"""The engine: transition order, exceptions, sub-FSMs, async actions, runaway loops."""

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from donkey.dsm.loader import ModuleLoader
from donkey.dsm.module import Module
from test.dsm.helpers import harness_with


class WaitModule(Module):
    """``wait.for(name)`` returns a Deferred the test fires; ``wait.fail`` errbacks."""

    def __init__(self):
        super().__init__("mod_wait")
        self.pending: dict[str, list[Deferred]] = {}

        @self.action("wait.for")
        def wait_for(session, event, args):
            d = Deferred()
            self.pending.setdefault(session.resolve(args[0], event), []).append(d)
            return d

    def fire(self, name, value=None):
        for d in self.pending.pop(name, []):
            d.callback(value)

    def fail(self, name, exc):
        for d in self.pending.pop(name, []):
            d.errback(exc)


class EngineTests(unittest.TestCase):
    def setUp(self):
        self.wait = WaitModule()
        original = ModuleLoader._find

        def find(loader, name, mod_path):
            return self.wait if name == "mod_wait" else original(loader, name, mod_path)

        self.patch(ModuleLoader, "_find", find)

    def test_first_matching_transition_wins_and_runs_exit_transition_enter(self):
        """Of two matching transitions the first runs, with exit, transition and enter actions in that order."""
        h = harness_with(
            self,
            s="""
            initial state A exit { append($t, "xA,"); };
            state B enter { append($t, "eB,"); };
            state C;
            transition "one" A - key(#key == 1) / append($t, "t1,") -> B;
            transition "two" A - key / append($t, "t2,") -> C;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertEqual(s.vars["t"], "xA,t1,eB,")
        self.assertEqual(s.path, ["A", "B"])

    def test_unmatched_event_changes_nothing(self):
        """An event no transition matches leaves the session in its state."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B;
            transition "t" A - key(#key == 5) -> B;
            """,
        )
        s = h.system("s")
        s.key(4)
        s.hangup()
        self.assertEqual(s.state, "A")

    def test_exception_handler_gets_fields_and_only_exception_transitions_run(self):
        """A throw stops the action list; only an exception transition runs and sees the thrown fields."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B;
            state ERR;
            transition "boom" A - key / { throw(bad, why=because); set($not_reached=1); } -> B;
            transition "plain" A - test(#type == bad) / set($plain=1) -> B;
            transition "caught" A - exception; test(#type == bad) / set($why=#why) -> ERR;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertEqual(s.state, "ERR")
        self.assertEqual(s.vars["why"], "because")
        self.assertNotIn("not_reached", s.vars)
        self.assertNotIn("plain", s.vars)

    def test_exception_without_handler_leaves_state(self):
        """A throw with no exception transition leaves the session where it was."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B;
            transition "boom" A - key / throw(x) -> B;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertEqual(s.state, "A")

    def test_repost_reevaluates_in_new_state(self):
        """repost() in an enter action hands the same event to the new state's transitions."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B enter { repost(); };
            state C;
            transition "ab" A - key -> B;
            transition "bc" B - key(#key == 7) -> C;
            """,
        )
        s = h.system("s")
        s.key(7)
        self.assertEqual(s.path, ["A", "B", "C"])

    def test_jump_fsm_enters_other_diagram(self):
        """jumpFSM() enters the other diagram at once and skips the rest of the action list."""
        h = harness_with(
            self,
            a="""
            initial state A1;
            transition "j" A1 - key / { jumpFSM(b); set($after=1); } -> A1;
            """,
            b="""
            initial state B1 enter { set($in_b=1); };
            state B2;
            transition "k" B1 - key -> B2;
            """,
        )
        s = h.system("a")
        s.key(1)
        self.assertEqual(s.vars.get("in_b"), "1")
        self.assertNotIn("after", s.vars)
        s.key(2)
        self.assertEqual(s.state, "B2")

    def test_async_action_suspends_only_its_session(self):
        """An action waiting on a Deferred holds back its own session's events, not others'."""
        h = harness_with(
            self,
            s="""
            import(mod_wait);
            initial state A;
            state B;
            state C;
            transition "go" A - key(#key == 1) / {
              wait.for($name);
              set($after_wait=done);
            } -> B;
            transition "next" B - key(#key == 2) -> C;
            """,
        )
        first = h.system("s")
        first.vars["name"] = "first"
        second = h.system("s")
        second.vars["name"] = "second"
        first.key(1)
        first.key(2)  # queued behind the waiting action
        self.assertEqual(first.state, "A")
        self.assertNotIn("after_wait", first.vars)
        second.key(1)
        self.wait.fire("second")
        second.key(2)
        self.assertEqual(second.state, "C")  # the other session ran on
        self.assertEqual(first.state, "A")
        self.wait.fire("first")
        self.assertEqual(first.vars["after_wait"], "done")
        self.assertEqual(first.state, "C")  # the queued key ran after

    def test_failed_deferred_becomes_dsm_exception(self):
        """A failed asynchronous action becomes an 'internal' DSM exception the script can catch."""
        h = harness_with(
            self,
            s="""
            import(mod_wait);
            initial state A;
            state B;
            state ERR;
            transition "go" A - key / wait.for(x) -> B;
            transition "err" A - exception / set($t=#type) -> ERR;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.wait.fail("x", RuntimeError("db gone"))
        self.assertEqual(s.state, "ERR")
        self.assertEqual(s.vars["t"], "internal")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_repost_loop_ends_session_instead_of_hanging(self):
        """A repost() loop ends the session with an error instead of hanging the server."""
        h = harness_with(
            self,
            s="""
            initial state A enter { repost(); };
            transition "again" A - key -> A;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertTrue(s.ended)
        self.assertTrue(any("re-evaluated" in e for e in h.errors()), h.errors())

    def test_exception_handler_that_throws_again_ends_session(self):
        """An exception handler that throws again ends the session and logs an exception loop."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B;
            transition "boom" A - key / throw(x) -> B;
            transition "again" A - exception / { set($errno=x); throwOnError(); } -> B;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertTrue(s.ended)
        self.assertTrue(any("exception loop" in e for e in h.errors()), h.errors())

    def test_stop_ends_after_current_event_and_drops_queue(self):
        """stop(false) finishes the current action list, then the session ends and ignores later events."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B;
            transition "stop" A - key / { stop(false); set($same_event=1); } -> B;
            transition "after" B - key / set($later=1) -> B;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertTrue(s.ended)
        self.assertEqual(s.vars.get("same_event"), "1")
        s.key(2)
        self.assertNotIn("later", s.vars)
        self.assertNotIn(s.session.ltag, h.runtime.sessions.by_tag)

    def test_timers_fire_on_the_clock(self):
        """setTimer fires after its seconds on the clock; a removed timer never fires."""
        h = harness_with(
            self,
            s="""
            initial state A enter { setTimer(1, 5); setTimer(2, 3); removeTimer(2); };
            state B;
            transition "t1" A - timer(#id == 1) -> B;
            transition "t2" A - timer(#id == 2) / set($wrong=1) -> A;
            """,
        )
        s = h.system("s")
        h.advance(4)
        self.assertEqual(s.state, "A")
        h.advance(1)
        self.assertEqual(s.state, "B")
        self.assertNotIn("wrong", s.vars)

    def test_post_event_between_sessions_by_local_tag(self):
        """postEvent to a session's local tag delivers the event; an unknown tag sets $errno=arg."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state GOT;
            transition "send" A - key / { set($msg=hi); postEvent($peer, msg); } -> A;
            transition "recv" A - event(#msg == hi) -> GOT;
            transition "none" A - test($errno == arg) -> A;
            """,
        )
        a = h.system("s")
        b = h.system("s")
        a.vars["peer"] = b.session.ltag
        a.key(1)
        self.assertEqual(b.state, "GOT")
        self.assertEqual(a.vars["errno"], "")
        a.vars["peer"] = "nobody"
        a.key(1)
        self.assertEqual(a.vars["errno"], "arg")

    def test_call_actions_throw_core_in_system_dsm(self):
        """A call-only action (playFile) in a system DSM throws a 'core' exception naming it."""
        h = harness_with(
            self,
            s="""
            initial state A;
            state B;
            transition "play" A - key / playFile(x.wav) -> B;
            transition "core" A - exception; test(#type == core) / set($cause=#cause) -> A;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertIn("playFile", s.vars["cause"])


class DeferredConditionTests(unittest.TestCase):
    def test_condition_may_wait(self):
        """A module condition may return a Deferred; the transition runs once it fires true."""
        gate = Deferred()
        module = Module("mod_gate")
        module.condition("gate.open")(lambda session, event, args: gate)
        original = ModuleLoader._find
        self.patch(
            ModuleLoader,
            "_find",
            lambda loader, name, path: (
                module if name == "mod_gate" else original(loader, name, path)
            ),
        )
        h = harness_with(
            self,
            s="""
            import(mod_gate);
            initial state A;
            state OPEN;
            transition "t" A - key; gate.open() -> OPEN;
            """,
        )
        s = h.system("s")
        s.key(1)
        self.assertEqual(s.state, "A")
        gate.callback(True)
        self.assertEqual(s.state, "OPEN")


class BrokenModuleTests(unittest.TestCase):
    def test_a_condition_that_crashes_ends_only_its_session(self):
        """A module condition that raises ends only that session, logged, not the server."""
        module = Module("mod_broken")

        @module.condition("broken.check")
        def check(session, event, args):
            raise ZeroDivisionError("bug in a module")

        original = ModuleLoader._find
        self.patch(
            ModuleLoader,
            "_find",
            lambda loader, name, path: (
                module if name == "mod_broken" else original(loader, name, path)
            ),
        )
        h = harness_with(
            self,
            s="""
            import(mod_broken);
            initial state A;
            transition "t" A - key; broken.check() -> A;
            """,
            ok="""
            initial state A;
            state B;
            transition "t" A - key -> B;
            """,
        )
        bad, good = h.system("s"), h.system("ok")
        bad.key(1)  # must not raise into the caller (SIP, RTP, XML-RPC)
        good.key(1)
        self.assertTrue(bad.ended)
        self.assertEqual(good.state, "B")
        failures = [e["log_failure"] for e in h.log_events if "log_failure" in e]
        self.assertEqual([f.check(ZeroDivisionError) for f in failures], [ZeroDivisionError])
