"""The reference traces measured on SEMS 2.1 (../shared/conformance): same variables.

The traces live beside the checkout (``DONKEY_CONFORMANCE`` names another
directory).  Without them a developer's run skips these tests; under
``CI=true`` a missing directory fails them, so a CI run can never pass
without having compared donkey against SEMS.
"""

import os

from twisted.trial import unittest

from donkey.dsm.harness import Harness
from test.util import service_missing

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.environ.get("DONKEY_CONFORMANCE") or os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "shared", "conformance")
)
SCRIPTS = "c01_values,c02_flow,c03_exceptions,c04_control,c05_main,c05_sub"


class ConformanceTests(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(CONFORMANCE):
            service_missing(f"no SEMS conformance traces at {CONFORMANCE}")
        self.harness = Harness()
        self.harness.load("main", {"diag_path": CONFORMANCE, "load_diags": SCRIPTS})

    def run_trace(self, name):
        session = self.harness.system(name)
        for _ in range(5):  # timers in c05 fire after 1 s each
            self.harness.advance(1)
        self.assertTrue(session.record.vars_logged, f"{name} never called logVars(0)")
        last = session.record.vars_logged[-1]
        got = sorted(f"${k}='{v}'" for k, v in last.items() if not k.startswith("config."))
        with open(os.path.join(CONFORMANCE, "expected", name + ".vars")) as f:
            expected = f.read().splitlines()
        self.assertEqual(got, expected)
        self.assertEqual(self.harness.errors(), [])

    def test_c01_values(self):
        """set/sets, interpolation, escapes, append, substr, inc, eval, arrays and structs match SEMS 2.1."""
        self.run_trace("c01_values")

    def test_c02_flow(self):
        """exit/transition/enter order, repost and first-match-wins trace as in SEMS 2.1."""
        self.run_trace("c02_flow")

    def test_c03_exceptions(self):
        """throw with params, interrupted actions and exception transitions match SEMS 2.1."""
        self.run_trace("c03_exceptions")

    def test_c04_control(self):
        """Nested if/else, for over ranges/arrays/structs, break and functions match SEMS 2.1."""
        self.run_trace("c04_control")

    def test_c05_sub_fsm(self):
        """After callFSM/returnFSM the caller runs on and ends in the state SEMS 2.1 ends in."""
        self.run_trace("c05_main")
