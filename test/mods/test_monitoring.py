"""mod_monitoring as operators see it: what a script wrote into the monitoring store."""

from __future__ import annotations

import os

from twisted.internet import task
from twisted.trial import unittest

from donkey.dsm.harness import Harness, HarnessSession
from donkey.monitoring.store import MonitoringStore


class Monitoring(unittest.TestCase):
    def run_script(
        self,
        body: str,
        *,
        store: MonitoringStore | None = None,
        variables: dict[str, str] | None = None,
    ) -> HarnessSession:
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "t.dsm"), "w") as f:
            f.write(
                "import(mod_monitoring);\ninitial state A;\n"
                f'transition "go" A - sessionStart / {{\n{body}\n}} -> B;\nstate B;\n'
            )
        h = Harness(monitoring=store)
        h.load("main", {"diag_path": directory, "load_diags": "t"})
        session = h.call("t", user="u35", variables=variables)
        self.assertEqual(h.errors(), [])
        return session

    def setUp(self) -> None:
        self.store = MonitoringStore(task.Clock())

    def test_set_and_log(self):
        """monitoring.set and monitoring.log store the call's attributes, with $var and @param resolved."""
        s = self.run_script(
            "monitoring.set(caller, $c);\nmonitoring.log(state, @user);",
            store=self.store,
            variables={"c": "alice"},
        )
        entry = self.store.get(s.session.ltag)
        self.assertEqual((entry["caller"], entry["state"]), ("alice", "u35"))

    def test_set_overwrites(self):
        """A second monitoring.set of an attribute replaces its value."""
        s = self.run_script("monitoring.set(k, 1);\nmonitoring.set(k, 2);", store=self.store)
        self.assertEqual(self.store.get_single(s.session.ltag, "k"), "2")

    def test_add_and_log_add(self):
        """monitoring.add turns a missing attribute into SEMS's list [0, ...] and appends each value."""
        s = self.run_script(
            "monitoring.add(keys, 1);\nmonitoring.logAdd(keys, $k);",
            store=self.store,
            variables={"k": "#"},
        )
        # As in SEMS the first add turns the missing attribute (0) into a list.
        self.assertEqual(self.store.get_single(s.session.ltag, "keys"), [0, "1", "#"])

    def test_log_vars(self):
        """monitoring.logVars stores every variable of the call, config ones included."""
        s = self.run_script("set($a=1);\nset($b=two);\nmonitoring.logVars();", store=self.store)
        entry = self.store.get(s.session.ltag)
        self.assertEqual((entry["a"], entry["b"]), ("1", "two"))
        self.assertEqual(entry["config.load_diags"], "t")

    def test_set_global_and_add_global(self):
        """setGlobal and addGlobal store values under a global (non-call) entry."""
        self.run_script(
            "monitoring.setGlobal(gateways, gw1, up);\n"
            "monitoring.setGlobal($tbl, gw2, $st);\n"
            "monitoring.addGlobal(gateways, events, $ev);\n"
            "monitoring.setGlobal(gateways, flag);",
            store=self.store,
            variables={"tbl": "gateways", "st": "down", "ev": "gw2 down"},
        )
        self.assertEqual(
            self.store.get("gateways"),
            {"gw1": "up", "gw2": "down", "events": [0, "gw2 down"], "flag": ""},
        )

    def test_inc_and_dec(self):
        """monitoring.inc and dec count a global counter up and down."""
        self.run_script(
            "monitoring.inc(calls, active);\nmonitoring.inc(calls, active);\n"
            "monitoring.dec(calls, active);",
            store=self.store,
        )
        self.assertEqual(self.store.get_count("calls", "active"), 1)

    def test_entries_are_per_call(self):
        """Each call writes to its own monitoring entry, keyed by its tag."""
        body = "monitoring.set(who, $me);"
        first = self.run_script(body, store=self.store, variables={"me": "1"})
        second = self.run_script(body, store=self.store, variables={"me": "2"})
        self.assertNotEqual(first.session.ltag, second.session.ltag)
        self.assertEqual(self.store.get_single(first.session.ltag, "who"), "1")
        self.assertEqual(self.store.get_single(second.session.ltag, "who"), "2")

    def test_without_monitoring_nothing_happens(self):
        """SEMS's monitoring calls are no-ops without the monitoring module: no errno."""
        s = self.run_script(
            "monitoring.set(a, b);\nmonitoring.add(a, b);\n"
            "monitoring.logVars();\nmonitoring.setGlobal(t, a, b);\n"
            "monitoring.addGlobal(t, a, b);\nmonitoring.inc(t, a);\n"
            "set($after=1);"
        )
        self.assertEqual(s.vars["after"], "1")
        self.assertNotIn("errno", s.vars)
        self.assertEqual(s.path, ["A", "B"])
