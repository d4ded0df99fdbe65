"""The XML-RPC built-ins ``get_sessioncount``, ``get_cpslimit`` and ``set_cpslimit``.

Their names and answers are SEMS's ``xmlrpc2di`` ones: the session count
since start-up, the CPS limit as ``"hard soft"``, ``"200 OK"`` for a new
limit.  :class:`LiveCpsLimitTests` shows the limit set over XML-RPC holding
the running daemon's next INVITEs.
"""

from __future__ import annotations

import os
import socket

from twisted.internet import defer, task
from twisted.trial import unittest

from donkey.app.server import ServerControl
from donkey.sip.stack import SipStack, StackLimits
from test.daemon import Daemon
from test.di.test_xmlrpc import FAULT_ARGS, ServerMixin
from test.util import wait_until


class CpsBuiltinTests(ServerMixin, unittest.TestCase):
    @defer.inlineCallbacks
    def test_get_sessioncount(self):
        """get_sessioncount answers the sessions started since start-up (not the running ones)."""
        self.core.total_sessions = 42
        self.assertEqual((yield self.call("get_sessioncount")), 42)

    @defer.inlineCallbacks
    def test_set_and_get_cpslimit(self):
        """set_cpslimit answers 200 OK; get_cpslimit then answers "hard soft" with the new limit."""
        self.assertEqual((yield self.call("get_cpslimit")), "0 0")
        self.assertEqual((yield self.call("set_cpslimit", 25)), "200 OK")
        self.assertEqual(self.core.cps_limit, 25)
        self.assertEqual((yield self.call("get_cpslimit")), "25 25")

    def test_set_cpslimit_wrong_type(self):
        """set_cpslimit with a string answers fault 300 and keeps the limit."""
        d = self.assertFault(self.call("set_cpslimit", "many"), FAULT_ARGS, "non-negative integer")
        return d.addCallback(lambda _: self.assertEqual(self.core.cps_limit, 0))

    def test_set_cpslimit_negative(self):
        """A negative CPS limit answers fault 300."""
        return self.assertFault(self.call("set_cpslimit", -1), FAULT_ARGS, "non-negative")

    def test_get_cpslimit_takes_no_arguments(self):
        """get_cpslimit with an argument answers fault 300."""
        return self.assertFault(self.call("get_cpslimit", 1), FAULT_ARGS, "takes 0 arguments")

    @defer.inlineCallbacks
    def test_listed(self):
        """system.listMethods names the three built-ins."""
        names = yield self.call("system.listMethods")
        for name in ("get_sessioncount", "get_cpslimit", "set_cpslimit"):
            self.assertIn(name, names)


class ServerControlTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.clock.advance(100)
        self.stack = SipStack(None, limits=StackLimits(max_cps=0), reactor=self.clock)
        self.control = ServerControl(None, self.stack, None, 2)  # type: ignore[arg-type]

    def test_set_cpslimit_holds_the_stack_at_once(self):
        """After set_cpslimit(2) the stack admits two new calls in a second, then refuses."""
        self.assertIsNone(self.stack._admission())
        self.control.set_cpslimit(2)
        self.assertEqual(self.control.get_cpslimit(), 2)
        self.assertEqual(self.stack.limits.max_cps, 2)
        self.clock.advance(1)
        self.assertIsNone(self.stack._admission())
        self.assertIsNone(self.stack._admission())
        refused = self.stack._admission()
        self.assertIsNotNone(refused)
        self.assertIn("cps limit 2", refused[0])

    def test_cpslimit_zero_is_unlimited(self):
        """set_cpslimit(0) lifts the limit."""
        self.control.set_cpslimit(1)
        self.control.set_cpslimit(0)
        for _ in range(10):
            self.assertIsNone(self.stack._admission())

    def test_session_count_counts_started_legs(self):
        """get_sessioncount is the stack's count of legs started, which does not go down."""
        self.assertEqual(self.control.session_count(), 0)
        leg = object()
        self.stack.leg_started(leg)  # type: ignore[arg-type]
        self.stack.leg_gone(leg)  # type: ignore[arg-type]
        self.assertEqual(self.control.session_count(), 1)


def invite(call_id: str, port: int, target: int) -> bytes:
    return (
        f"INVITE sip:nobody@127.0.0.1:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id}\r\n"
        f"From: <sip:cps@127.0.0.1:{port}>;tag={call_id}\r\n"
        f"To: <sip:nobody@127.0.0.1:{target}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:cps@127.0.0.1:{port}>\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class LiveCpsLimitTests(unittest.TestCase):
    timeout = 60

    async def test_set_cpslimit_refuses_the_next_invites(self):
        """set_cpslimit(1) over XML-RPC: of three INVITEs at once the daemon answers two 503."""
        daemon = Daemon(self)
        await daemon.ready()
        self.assertEqual(await daemon.call_xmlrpc("set_cpslimit", 1), "200 OK")
        self.assertEqual(await daemon.call_xmlrpc("get_cpslimit"), "1 1")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        port = sock.getsockname()[1]
        tag = os.urandom(4).hex()
        for n in range(3):
            sock.sendto(
                invite(f"cps{n}-{tag}", port, daemon.sip_port), ("127.0.0.1", daemon.sip_port)
            )
        finals: dict[str, int] = {}

        def answered() -> bool:
            while True:
                try:
                    data = sock.recv(65535).decode("utf-8", "replace")
                except BlockingIOError:
                    break
                code = int(data.split(" ", 2)[1])
                call_id = next(
                    line.split(":", 1)[1].strip()
                    for line in data.split("\r\n")
                    if line.lower().startswith(("call-id:", "i:"))
                )
                if code >= 200:
                    finals[call_id] = code
            return len(finals) == 3

        await wait_until(answered, 20, "final answers to the three INVITEs")
        self.assertEqual(sorted(finals.values()).count(503), 2, finals)
        self.assertGreaterEqual(await daemon.call_xmlrpc("get_sessioncount"), 1)
