"""A bridged call's objects are freed by reference counting when it ends.

The caller's :class:`~donkey.app.call.DSMCall` holds its
:class:`~donkey.app.b2b.B2BBridge`, which holds the call back and the
:class:`~donkey.app.b2b.CalleeLeg`; with the cyclic collector off, the call
must still go once its session ended and the test dropped its references.
"""

from __future__ import annotations

import gc
import weakref

from twisted.internet import task
from twisted.trial import unittest

from donkey.app.call import DSMCall
from donkey.dsm.runtime import Runtime
from test.app.fakes import FakeController, FakeLeg, FakeMediaSession
from test.dsm.helpers import write_scripts

BRIDGE = """
initial state START;
transition "go" START - sessionStart / B2B.connectCallee("<sip:b@127.0.0.1>", "sip:b@127.0.0.1") -> CONNECTING;
state CONNECTING;
transition "answered" CONNECTING - B2B.otherReply(#code == 200) -> CONNECTED;
state CONNECTED;
transition "bye" (CONNECTING, CONNECTED) - hangup / stop(false) -> END;
transition "other bye" CONNECTED - B2B.otherBye() -> END;
state END;
"""


class FakeStack:
    """Dials a :class:`FakeLeg` for the B leg and keeps nothing."""

    def __init__(self) -> None:
        self.dialled: list[weakref.ref] = []

    def dial(self, from_uri, to_uri, ruri, sdp_offer, *, listener, **kw):
        leg = FakeLeg(direction="out", remote_sdp="v=0 b-answer")
        self.dialled.append(weakref.ref(leg))
        return leg


class BridgeController(FakeController):
    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self.stack = FakeStack()
        self.calls: dict = {}

    def call_ended(self, call) -> None:
        self.ended.append(weakref.ref(call))
        self.calls.pop(id(call), None)


class B2BCycleTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.runtime = Runtime(self.clock)
        directory = write_scripts(self, bridge=BRIDGE)
        self.bundle = self.runtime.load_bundle(
            "main", {"diag_path": directory, "load_diags": "bridge", "run_invite_event": "yes"}
        )
        self.controller = BridgeController(self.runtime)
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)

    def bridged(self) -> tuple[DSMCall, FakeLeg]:
        """A caller bridged to an answered B leg."""
        leg = FakeLeg()
        call = DSMCall(self.controller, leg, self.bundle, "bridge", FakeMediaSession())
        self.controller.calls[id(call)] = call
        call.on_invite(leg)
        callee = call.b2b.callee
        self.assertIsNotNone(callee)
        callee.on_connected("v=0 b-answer")
        self.clock.advance(0)
        self.assertEqual(call.session.engine.state_name, "CONNECTED")
        return call, leg

    def assert_freed(self, refs: dict[str, weakref.ref]) -> None:
        self.clock.advance(60)  # let every timer of the ended call run
        self.assertEqual({name: ref() for name, ref in refs.items()}, dict.fromkeys(refs))
        self.assertEqual([ref() for ref in self.controller.stack.dialled], [None])

    @staticmethod
    def refs(call: DSMCall) -> dict[str, weakref.ref]:
        # the DSM Session itself still sits in a cycle with its Engine (the dsm layer's)
        return {"call": weakref.ref(call), "bridge": weakref.ref(call.b2b)}

    def test_caller_hangs_up_call_is_freed(self):
        """A's BYE ends a bridged call: the call, its bridge and the B leg are freed at once."""
        call, leg = self.bridged()
        refs = self.refs(call)
        call.on_hangup("", False)
        self.assertTrue(call.session.ended)
        del call, leg
        self.assert_freed(refs)

    def test_callee_hangs_up_call_is_freed(self):
        """B's BYE ends a bridged call: everything is freed without the cyclic collector."""
        call, leg = self.bridged()
        refs = self.refs(call)
        call.b2b.callee.on_hangup("", False)
        self.clock.advance(0)
        self.assertTrue(call.session.ended)
        self.assertEqual(leg.sent[-1][0], "bye")  # A got B's BYE
        del call, leg
        self.assert_freed(refs)
