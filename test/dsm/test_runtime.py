"""The DSM host: bundles and apps, system DSMs, module state, and session bookkeeping."""

from __future__ import annotations

import os

from twisted.internet import task
from twisted.trial import unittest

from donkey.dsm.errors import CompileError
from donkey.dsm.harness import Harness
from donkey.dsm.protocols import SessionHost, protocol_members
from donkey.dsm.runtime import Runtime
from test.dsm.helpers import write_scripts

GOOD = """
initial state A;
transition "start" A - sessionStart / set($version=1) -> A;
"""
BROKEN = """
initial state A;
transition "start" A - sessionStart / noSuchAction() -> A;
"""
SYSTEM = """
initial state A;
transition "up" A - startup / set($up=yes) -> A;
transition "sys" A - system / set($sys=#type) -> A;
transition "media" A - event / playFile(/tmp/x.wav) -> A;
transition "err" A - exception / { set($type=#type); set($cause=#cause); } -> A;
"""


class FakeStore:
    """A monitoring sink that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def set(self, ident, key, value):
        self.calls.append(("set", ident, key, value))

    def add(self, ident, key, value):
        self.calls.append(("add", ident, key, value))

    def update(self, ident, attributes):
        self.calls.append(("update", ident, dict(attributes)))

    def inc(self, kind, name):
        return 1

    def dec(self, kind, name):
        return 0

    def mark_finished(self, ident):
        self.calls.append(("finished", ident))


class Closable:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Bundles(unittest.TestCase):
    def setUp(self):
        self.dir = write_scripts(self, app=GOOD, other=GOOD)
        self.h = Harness()
        self.rt = self.h.runtime
        self.conf = {"diag_path": self.dir, "load_diags": "app,other", "register_apps": "app"}

    def test_runtime_offers_everything_a_session_host_has(self):
        """The runtime has every member the SessionHost protocol promises sessions and modules."""
        runtime = Runtime(task.Clock())
        missing = [n for n in protocol_members(SessionHost) if not hasattr(runtime, n)]
        self.assertEqual(missing, [])

    def test_registered_apps_point_at_their_bundle(self):
        """register_apps makes a diagram an application; others are loaded but not callable."""
        bundle = self.rt.load_bundle("b", self.conf, self.dir)
        self.assertEqual(self.rt.apps, {"app": (bundle, "app")})
        self.assertEqual(sorted(bundle.diagrams), ["app", "other"])

    def test_reload_moves_apps_to_the_new_bundle(self):
        """Reloading a bundle makes new calls use the new scripts."""
        old = self.rt.load_bundle("b", self.conf, self.dir)
        new = self.rt.load_bundle("b", self.conf, self.dir)
        self.assertIsNot(old, new)
        self.assertIs(self.rt.apps["app"][0], new)
        self.assertIs(self.rt.bundles["b"], new)

    def test_failed_reload_keeps_the_old_bundle(self):
        """A reload with a script error changes nothing: the old bundle and apps stay."""
        old = self.rt.load_bundle("b", self.conf, self.dir)
        with open(os.path.join(self.dir, "app.dsm"), "w") as f:
            f.write(BROKEN)
        self.assertRaises(CompileError, self.rt.load_bundle, "b", self.conf, self.dir)
        self.assertIs(self.rt.bundles["b"], old)
        self.assertIs(self.rt.apps["app"][0], old)

    def test_registering_a_missing_diagram_keeps_the_old_bundle(self):
        """register_apps naming a diagram that is not loaded fails, and installs nothing."""
        old = self.rt.load_bundle("b", self.conf, self.dir)
        bad = dict(self.conf, register_apps="app,ghost")
        e = self.assertRaises(CompileError, self.rt.load_bundle, "b", bad, self.dir)
        self.assertIn("ghost", str(e))
        self.assertIs(self.rt.bundles["b"], old)

    def test_bundle_hooks_see_each_bundle_before_it_is_installed(self):
        """A bundle hook (the app's prompt loader) runs first, and its failure keeps the old bundle."""
        seen = []
        self.rt.bundle_hooks.append(lambda b: seen.append((b.name, self.rt.bundles.get(b.name))))
        first = self.rt.load_bundle("b", self.conf, self.dir)
        self.assertEqual(seen, [("b", None)])

        def refuse(bundle):
            raise ValueError("required prompts not loaded: welcome")

        self.rt.bundle_hooks.append(refuse)
        e = self.assertRaises(CompileError, self.rt.load_bundle, "b", self.conf, self.dir)
        self.assertIn("welcome", str(e))
        self.assertIs(self.rt.bundles["b"], first)

    def test_register_app_by_name(self):
        """registerApplication makes a loaded diagram callable; an unknown one is refused."""
        bundle = self.rt.load_bundle("b", self.conf, self.dir)
        self.assertTrue(self.rt.register_app("other", "b"))
        self.assertEqual(self.rt.apps["other"], (bundle, "other"))
        self.assertFalse(self.rt.register_app("ghost", "b"))
        self.assertFalse(self.rt.register_app("app", "nobundle"))


class SystemDSMs(unittest.TestCase):
    def setUp(self):
        self.store = FakeStore()
        self.h = Harness(monitoring=self.store)
        self.dir = write_scripts(self, sys=SYSTEM)
        self.h.load("main", {"diag_path": self.dir, "load_diags": "sys"})

    def test_system_dsm_runs_startup_without_a_call(self):
        """A system DSM starts with 'startup', has no call, and writes no monitoring entry."""
        s = self.h.system("sys")
        self.assertEqual(s.vars["up"], "yes")
        self.assertIsNone(s.session.call)
        self.assertEqual(s.session.select("user"), "")
        self.assertEqual(self.store.calls, [])

    def test_media_in_a_system_dsm_is_the_core_exception(self):
        """playFile in a system DSM throws 'core': there is no media."""
        s = self.h.system("sys")
        s.event()
        self.assertEqual(s.vars["type"], "core")
        self.assertIn("playFile", s.vars["cause"])

    def test_unknown_config_or_diagram_is_refused(self):
        """createSystemDSM names the missing config or diagram."""
        self.assertEqual(
            self.h.runtime.create_system_dsm("nope", "sys"), (False, "config 'nope' not found")
        )
        ok, status = self.h.runtime.create_system_dsm("main", "ghost")
        self.assertFalse(ok)
        self.assertIn("ghost", status)

    def test_system_events_reach_every_session(self):
        """ServerShutdown (and User1/User2) arrive as a system event in each session."""
        a = self.h.system("sys")
        b = self.h.system("sys")
        self.h.runtime.broadcast_system_event({"type": "ServerShutdown"})
        self.assertEqual((a.vars["sys"], b.vars["sys"]), ("ServerShutdown", "ServerShutdown"))


class ModuleStateAndEnding(unittest.TestCase):
    def test_module_state_is_made_once_per_runtime(self):
        """A module's pool or table is made on first use and shared by the runtime's sessions."""
        rt = Runtime(task.Clock())
        other = Runtime(task.Clock())
        first = rt.module_state("mod_x.pool", Closable)
        self.assertIs(rt.module_state("mod_x.pool", Closable), first)
        self.assertIsNot(other.module_state("mod_x.pool", Closable), first)
        self.assertIs(rt.drop_module_state("mod_x.pool"), first)
        self.assertIsNot(rt.module_state("mod_x.pool", Closable), first)

    def test_shutdown_closes_module_state(self):
        """At shutdown every module state with close() is closed, and forgotten."""
        rt = Runtime(task.Clock())
        pool = rt.module_state("mod_x.pool", Closable)
        rt.module_state("mod_x.table", dict)
        d = rt.shutdown()
        self.assertTrue(pool.closed)
        self.successResultOf(d)
        self.assertIsNot(rt.module_state("mod_x.pool", Closable), pool)

    def test_ended_call_is_marked_finished_in_monitoring(self):
        """A call's session that ends is marked finished in monitoring and leaves the container."""
        store = FakeStore()
        h = Harness(monitoring=store)
        directory = write_scripts(
            self, s="initial state A;\ntransition t A - hangup / stop(false) -> A;\n"
        )
        h.load("main", {"diag_path": directory, "load_diags": "s"})
        ended = []
        h.runtime.on_session_end.append(lambda s: ended.append(s.ltag))
        call = h.call("s")
        ltag = call.session.ltag
        call.hangup()
        self.assertIn(("finished", ltag), store.calls)
        self.assertEqual(ended, [ltag])
        self.assertEqual(len(h.runtime.sessions), 0)
