"""The transport's gate: what a stranger's datagram gets before (and instead of) sippy."""

from __future__ import annotations

import io
import re
import sys

from sippy.Network_server import Remote_address
from sippy.Time.MonoTime import MonoTime
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel
from twisted.trial import unittest

from donkey.sip import sippy_process
from donkey.sip.ratelimit import SourceLogLimiter
from donkey.sip.stack import SipStack, StackLimits
from test.sip.helpers import Recorder

SOURCE = ("127.0.0.1", 5999)


def invite(call_id: str = "gate-1", branch: str = "z9hG4bK-g1", **replace: str) -> bytes:
    """A well-formed new INVITE; ``replace`` swaps whole header lines by name."""
    headers = {
        "Via": f"SIP/2.0/UDP 127.0.0.1:5999;rport;branch={branch}",
        "From": "<sip:a@127.0.0.1>;tag=f1",
        "To": "<sip:nobody@127.0.0.1>",
        "Call-ID": call_id,
        "CSeq": "1 INVITE",
        "Contact": "<sip:a@127.0.0.1:5999>",
        "Max-Forwards": "70",
        "Content-Length": "0",
    }
    headers.update({k.replace("_", "-"): v for k, v in replace.items()})
    lines = ["INVITE sip:nobody@127.0.0.1 SIP/2.0"]
    lines += [f"{k}: {v}" for k, v in headers.items() if v]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def record_sends(server) -> list[tuple[bytes, tuple[str, int]]]:
    """Make the stack's UDP server record what it would send instead of sending it."""
    sent: list[tuple[bytes, tuple[str, int]]] = []

    def send_to(data, address, delayed: bool = False) -> None:
        server.stats[0] += 1
        sent.append((data if isinstance(data, bytes) else data.encode(), tuple(address)))

    server.send_to = send_to
    return sent


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def header(data: bytes, name: str) -> str:
    match = re.search(rb"\r\n" + name.encode() + rb": ([^\r]*)", data)
    return match.group(1).decode() if match else ""


class GateTests(unittest.TestCase):
    def setUp(self) -> None:
        sippy_process.install(reactor)
        self.legs: list[object] = []
        self.stack = SipStack(self._factory, "127.0.0.1", 0, limits=StackLimits(max_sessions=1))
        self.stack.startService()
        self.addCleanup(self.stack.stopService)
        self.server = self.stack.tm.server
        self.sent = record_sends(self.server)

    def _factory(self, leg):
        self.legs.append(leg)
        return Recorder(on_invite=lambda leg: None)  # rings forever

    def feed(self, data: bytes) -> list[bytes]:
        before = len(self.sent)
        self.stack.tm.handleIncoming(data, Remote_address(SOURCE, "udp"), self.server, MonoTime())
        replies = self.sent[before:]
        for _, address in replies:
            self.assertEqual(address, SOURCE)
        return [r for r, _ in replies]

    def test_missing_call_id_gets_400_naming_it(self):
        """An INVITE without Call-ID gets one 400 whose Warning says Call-ID is missing."""
        (reply,) = self.feed(invite(Call_ID=""))
        self.assertEqual(status(reply), 400)
        self.assertIn("missing Call-ID", header(reply, "Warning"))
        self.assertIn("branch=z9hG4bK-g1", header(reply, "Via"))
        self.assertIn(";tag=", header(reply, "To"))
        self.assertEqual(self.legs, [])

    def test_sip_7_gets_505(self):
        """A request in SIP/7.0 gets 505 Version Not Supported."""
        (reply,) = self.feed(invite().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1))
        self.assertEqual(status(reply), 505)

    def test_what_sippy_rejects_still_gets_400(self):
        """A request the gate lets through but sippy cannot parse (a Via port of letters) gets 400."""
        replies = self.feed(invite(Via="SIP/2.0/UDP 127.0.0.1:port;branch=z9hG4bK-x"))
        self.assertEqual([status(r) for r in replies], [400])
        self.assertEqual(self.legs, [])
        # its retransmission gets the same answer
        self.assertEqual(
            self.feed(invite(Via="SIP/2.0/UDP 127.0.0.1:port;branch=z9hG4bK-x")), replies
        )

    def test_sippy_parse_errors_never_reach_stdout(self):
        """Unparseable requests write nothing to stdout (sippy's dump_exception is routed to the log)."""
        out = io.StringIO()
        real, sys.stdout = sys.stdout, out
        try:
            for n in range(20):
                self.feed(invite(Via="SIP/2.0/UDP 127.0.0.1:port;branch=z9hG4bK-%d" % n))
                self.feed(
                    b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1\r\n\r\n" + b"\xff" * 50
                )
        finally:
            sys.stdout = real
        self.assertEqual(out.getvalue(), "")

    def test_overload_503_allocates_nothing(self):
        """Past the session limit a new INVITE gets 503 with Retry-After and no leg is made."""
        self.stack._active = 1  # the one session slot is taken
        (reply,) = self.feed(invite())
        self.assertEqual(status(reply), 503)
        self.assertEqual(header(reply, "Retry-After"), "5")
        self.assertIn("session limit 1 reached", header(reply, "Warning"))
        self.assertEqual(self.legs, [])
        self.assertEqual(self.stack.stats().rejected_calls, 1)
        # a retransmission gets the same 503, the same To tag
        (again,) = self.feed(invite())
        self.assertEqual(header(again, "To"), header(reply, "To"))

    def test_capacity_check_refuses_before_a_leg(self):
        """When the owner says it has no capacity (no RTP port), the INVITE gets 503 at the door."""
        self.stack.capacity_check = lambda: "all 20 RTP ports in use"
        (reply,) = self.feed(invite())
        self.assertEqual(status(reply), 503)
        self.assertIn("RTP ports", header(reply, "Warning"))
        self.assertEqual(self.legs, [])

    def test_admitted_invite_retransmission_is_not_refused(self):
        """An INVITE admitted once is not refused when it is retransmitted after the limit filled."""
        first = self.feed(invite(call_id="adm-1"))
        self.assertEqual(self.stack.current_calls, 1)  # the limit (1) is reached now
        again = self.feed(invite(call_id="adm-1"))
        self.assertNotIn(503, [status(r) for r in first + again])
        # while a different new INVITE is refused
        self.assertEqual([status(r) for r in self.feed(invite(call_id="adm-2"))], [503])

    def test_ack_with_errors_is_dropped(self):
        """A broken ACK is never answered."""
        ack = invite(Call_ID="").replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK")
        self.assertEqual(self.feed(ack), [])


class _Lines:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event: dict) -> None:
        self.events.append(event)


class RateLimitTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.lines = _Lines()
        self.limiter = SourceLogLimiter(
            self.clock, per_source=3, window=10.0, total=5, logger=Logger(observer=self.lines)
        )

    def texts(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.lines.events]

    def test_per_source_budget_then_one_summary(self):
        """A flood from one host gives 3 lines, then one 'n more suppressed' line when the window ends."""
        for n in range(50):
            self.limiter.emit("192.0.2.1", "400: missing Call-ID", 5000 + n)
        self.assertEqual(len(self.texts()), 3)
        self.assertEqual(self.texts()[0], "192.0.2.1:5000: 400: missing Call-ID")
        self.clock.advance(10.0)
        self.assertEqual(self.texts()[3], "192.0.2.1: 47 more like this suppressed in 10 s")
        self.assertEqual({e["log_level"] for e in self.lines.events}, {LogLevel.warn})
        # a new window has a new budget
        self.limiter.emit("192.0.2.1", "again")
        self.assertEqual(self.texts()[-1], "192.0.2.1: again")

    def test_total_budget_across_sources(self):
        """Many sources together get at most the total budget of lines per window."""
        for n in range(100):
            self.limiter.emit("198.51.100.%d" % n, "dropped: no request line")
        self.assertEqual(len(self.texts()), 5)
        self.assertEqual(self.limiter.suppressed, 95)
