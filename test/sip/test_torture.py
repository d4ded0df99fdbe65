"""The torture corpus (test/sip/torture/) sent to a running daemon, one message at a time.

Each ``*.sip`` file starts with ``# expect: CODE`` (or ``none``: nothing must
come back) and a line saying what it exercises; the message follows, with
LF line ends turned into CRLF unless the name ends in ``.raw.sip``.
``$CALLID`` becomes a fresh Call-ID, ``$LEN`` the body's length in bytes.

"Nothing came back" is decided without sleeping: after each message a
well-formed OPTIONS goes out on the same socket, and once its 200 is in, a
reply to the message before it would have arrived too (loopback UDP, one
reactor answering in order).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial import unittest

from test.daemon import Daemon
from test.util import wait_until

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torture")
_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S*)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Case:
    name: str
    expect: str  # a status code, or "none"
    what: str
    template: bytes

    def render(self, call_id: str) -> bytes:
        """The message to send, with its Call-ID and Content-Length filled in."""
        data = self.template
        if not self.name.endswith(".raw"):
            data = data.replace(b"\n", b"\r\n")
        data = data.replace(b"$CALLID", call_id.encode())
        for sep in (b"\r\n\r\n", b"\n\n"):
            if sep in data:
                body = data.split(sep, 1)[1]
                return data.replace(b"$LEN", str(len(body)).encode())
        return data


def load_corpus() -> list[Case]:
    cases = []
    for name in sorted(os.listdir(CORPUS)):
        if not name.endswith(".sip"):
            continue
        with open(os.path.join(CORPUS, name), "rb") as f:
            raw = f.read()
        expect_line, what_line, template = raw.split(b"\n", 2)
        expect = expect_line.decode().split(":", 1)[1].strip()
        cases.append(Case(name[:-4], expect, what_line.decode()[2:], template))
    return cases


def status_of(reply: bytes) -> int:
    """The status code of a SIP response (0 if it is none)."""
    match = re.match(rb"SIP/2\.0 (\d{3})", reply)
    return int(match.group(1)) if match else 0


def call_id_of(reply: bytes) -> str:
    match = _CALL_ID.search(reply)
    return match.group(1).decode("latin-1") if match else ""


def options(call_id: str) -> bytes:
    """A well-formed OPTIONS (the barrier after each message under test)."""
    return (
        "OPTIONS sip:nobody@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{call_id}\r\n"
        "From: <sip:probe@127.0.0.1>;tag=p1\r\n"
        "To: <sip:nobody@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class SipClient(DatagramProtocol):
    """A UDP socket that keeps every datagram it receives."""

    def __init__(self) -> None:
        self.replies: list[bytes] = []

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.replies.append(datagram)

    def replies_for(self, call_id: str) -> list[bytes]:
        return [r for r in self.replies if call_id_of(r) == call_id]


def open_client(testcase: unittest.TestCase) -> tuple[SipClient, int]:
    client = SipClient()
    port = reactor.listenUDP(0, client, interface="127.0.0.1")
    testcase.addCleanup(port.stopListening)
    return client, port.getHost().port


async def send_and_barrier(
    client: SipClient, target: tuple[str, int], data: bytes, timeout: float = 10.0
) -> None:
    """Send *data*, then an OPTIONS, and return once the OPTIONS has its answer."""
    assert client.transport is not None
    probe = "probe-" + uuid.uuid4().hex
    client.transport.write(data, target)
    client.transport.write(options(probe), target)
    await wait_until(lambda: client.replies_for(probe), timeout, "the OPTIONS barrier's 200")


def replies_to(client: SipClient, call_id: str, before: int) -> list[bytes]:
    """Replies since index *before* that are not barrier answers."""
    return [
        r
        for r in client.replies[before:]
        if not call_id_of(r).startswith("probe-") and (not call_id or call_id_of(r) == call_id)
    ]


class TortureCorpusTests(unittest.TestCase):
    timeout = 120

    def test_corpus_is_loaded(self):
        """The corpus holds good, malformed and unanswerable messages, each with an expectation."""
        cases = load_corpus()
        self.assertGreaterEqual(len(cases), 40)
        kinds = {c.expect for c in cases}
        self.assertTrue({"200", "400", "505", "none"} <= kinds, kinds)

    async def test_every_message_gets_its_expected_reply(self):
        """Each corpus message gets the reply it should (or none), and the log says why in one line."""
        daemon = Daemon(self)
        await daemon.ready()
        client, _ = open_client(self)
        target = ("127.0.0.1", daemon.sip_port)
        wrong = []
        for case in load_corpus():
            call_id = "torture-%s-%s" % (case.name.replace(".", "-"), uuid.uuid4().hex[:8])
            before = len(client.replies)
            await send_and_barrier(client, target, case.render(call_id))
            # a message whose Call-ID is missing or broken is matched by position
            got = replies_to(client, call_id if case.name.startswith("ok_") else "", before)
            codes = sorted({status_of(r) for r in got if status_of(r) >= 200})  # finals
            expected = [] if case.expect == "none" else [int(case.expect)]
            if codes != expected:
                wrong.append(f"{case.name} ({case.what}): expected {expected}, got {codes}")
            for reply in got:
                if status_of(reply) in (400, 416, 505):
                    self.assertIn(b"\r\nWarning: 399 ", reply, case.name)
        self.assertEqual(wrong, [])
        # the daemon still answers normally, and wrote no traceback nor a whole message
        before = len(client.replies)
        await send_and_barrier(client, target, options("after-" + uuid.uuid4().hex))
        log = daemon.output()
        self.assertNotIn("Traceback", log)
        self.assertNotIn("just words in a datagram", log)
        lines = [line for line in log.splitlines() if "[donkey.sip.input#" in line]
        # one line per bad message, at most 5 per source in 10 s (the rest are counted)
        self.assertEqual(len(lines), 5, lines)
        self.assertIn("400: unbalanced quotes or brackets in To", lines[0])
        self.assertGreater(len(client.replies), before)
