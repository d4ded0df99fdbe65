"""Overload: past session_limit new INVITEs get 503 at the door, and calls that are up keep their audio."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial import unittest

from test.daemon import ROOT, Daemon
from test.sip.test_torture import open_client, status_of
from test.util import pause, wait_until

LIMIT = 3
BURST = 600


class RtpCounter(DatagramProtocol):
    """Counts the RTP packets the daemon sends to one call's port, with arrival times."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.times.append(time.monotonic())

    def rate(self, start: float, end: float) -> float:
        return sum(1 for t in self.times if start <= t < end) / (end - start)


def invite(call_id: str, rtp_port: int) -> bytes:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    return (
        "INVITE sip:hello@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{call_id}\r\n"
        "From: <sip:load@127.0.0.1>;tag=l1\r\n"
        "To: <sip:hello@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:load@127.0.0.1:5999>\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def ack_for(ok: bytes, call_id: str) -> bytes:
    to = re.search(rb"\r\nTo: ([^\r]*)", ok)
    assert to is not None
    return (
        "ACK sip:hello@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-ack-{call_id}\r\n"
        "From: <sip:load@127.0.0.1>;tag=l1\r\n"
        f"To: {to.group(1).decode()}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 ACK\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class OverloadTests(unittest.TestCase):
    timeout = 120

    def config(self) -> str:
        """The bundled configuration with session_limit=3."""
        conf = os.path.abspath(self.mktemp())
        shutil.copytree(os.path.join(ROOT, "conf"), conf)
        path = os.path.join(conf, "sems.conf")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(re.sub(r"(?m)^session_limit=.*$", f"session_limit={LIMIT}", text))
        return path

    async def test_burst_past_session_limit(self):
        """With 3 calls up, 600 more INVITEs all get 503 + Retry-After and the 3 keep ~50 packets/s."""
        daemon = Daemon(self, config=self.config())
        await daemon.ready()
        client, _ = open_client(self)
        assert client.transport is not None
        target = ("127.0.0.1", daemon.sip_port)
        counters = []
        for n in range(LIMIT):
            counter = RtpCounter()
            port = reactor.listenUDP(0, counter, interface="127.0.0.1")
            self.addCleanup(port.stopListening)
            call_id = f"up-{n}-{uuid.uuid4().hex[:6]}"
            client.transport.write(invite(call_id, port.getHost().port), target)

            def answered(cid: str = call_id) -> bytes | None:
                for r in client.replies:
                    if f"Call-ID: {cid}".encode() in r and status_of(r) == 200:
                        return r
                return None

            ok = await wait_until(answered, 15, f"the 200 for {call_id}")
            client.transport.write(ack_for(ok, call_id), target)
            counters.append(counter)
        await wait_until(
            lambda: all(len(c.times) > 25 for c in counters), 10, "audio on every call"
        )
        before = len(client.replies)
        start = time.monotonic()
        for n in range(BURST):
            client.transport.write(invite(f"burst-{n}", 4000), target)
            if n % 30 == 29:
                await pause(0.1)  # 300 INVITEs/s for two seconds

        def refused() -> int:
            return sum(1 for r in client.replies[before:] if status_of(r) == 503)

        await wait_until(lambda: refused() >= BURST, 20, "a 503 for every INVITE of the burst")
        end = time.monotonic()
        rates = [c.rate(start, end) for c in counters]
        refusals = [r for r in client.replies[before:] if status_of(r) == 503]
        print(
            f"\noverload: {len(refusals)} of {BURST} refused with 503 in {end - start:.1f} s; "
            f"calls up: {LIMIT}; their packets/s during the burst: {[round(r, 1) for r in rates]}"
        )
        self.assertTrue(all(b"\r\nRetry-After: 5\r\n" in r for r in refusals))
        self.assertTrue(all(b"session limit 3 reached" in r for r in refusals))
        self.assertEqual([status_of(r) for r in client.replies[before:] if status_of(r) != 503], [])
        for rate in rates:
            self.assertGreaterEqual(rate, 45.0)
        self.assertEqual(await daemon.call_xmlrpc("calls"), LIMIT)
