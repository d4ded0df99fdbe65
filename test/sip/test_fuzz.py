"""Random input for the SIP gate: hypothesis properties, and a bounded fuzz run at a daemon."""

from __future__ import annotations

import os
import random
import re
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from donkey.sip import validate
from test.daemon import Daemon
from test.sip.test_torture import open_client, options, send_and_barrier, status_of
from test.util import wait_until

INVITE = (
    "INVITE sip:nobody@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{n}\r\n"
    'From: "Fuzz" <sip:fuzz@127.0.0.1>;tag=f{n}\r\n'
    "To: <sip:nobody@127.0.0.1>\r\n"
    "Call-ID: fuzz-{n}\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:fuzz@127.0.0.1:5999>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n\r\n"
)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
JUNK = [
    "",
    " ",
    "\t",
    '"',
    "<",
    ">",
    ";",
    ":",
    "-1",
    "99999999999999999999",
    "\x00",
    "\xff",
    "\u263a",
    "SIP/7.0",
    "\r\n",
    "\n",
    "x" * 300,
    "%00",
    "@",
    "sip:",
    "2147483648",
]


def make_invite(n: int) -> bytes:
    return (INVITE.format(n=n, length=len(SDP)) + SDP).encode()


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One of a few header-level mutations of a valid request."""
    text = data.decode("latin-1")
    head, body = text.split("\r\n\r\n", 1)
    lines = head.split("\r\n")
    i = rng.randrange(len(lines))
    choice = rng.randrange(7)
    junk = rng.choice(JUNK)
    if choice == 0 and i:
        del lines[i]  # a header goes missing
    elif choice == 1:
        pos = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:pos] + junk + lines[i][pos:]  # junk inside a line
    elif choice == 2 and ":" in lines[i]:
        name = lines[i].split(":", 1)[0]
        lines[i] = f"{name}: {junk}"  # a header's value replaced
    elif choice == 3:
        lines.insert(rng.randrange(1, len(lines) + 1), lines[i])  # a header twice
    elif choice == 4:
        lines[i] = lines[i].replace(" ", junk or "  ", 1)
    elif choice == 5:
        body = body[: rng.randrange(len(body) + 1)]  # truncated body
    else:
        raw = bytearray(text.encode("latin-1"))
        for _ in range(rng.randrange(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)  # flipped bytes
        return bytes(raw)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1", "replace")


class PropertyTests(unittest.TestCase):
    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=2000))
    def test_any_bytes_never_raise(self, data: bytes):
        """Whatever bytes arrive, the gate decides pass, reply or drop, and never raises."""
        verdict = validate._check(data)  # the unguarded core: check() would hide a raise
        self.assertIn(verdict.action, ("pass", "reply", "drop"))
        if verdict.action == "reply":
            assert verdict.head is not None
            reply = validate.build_reply(verdict.head, verdict.code, "Bad Request", verdict.problem)
            self.assertTrue(reply.startswith(b"SIP/2.0 %d " % verdict.code))

    @settings(max_examples=400, deadline=None)
    @given(st.integers(0, 10**6), st.randoms(use_true_random=False))
    def test_mutated_invite_gets_reply_or_logged_drop(self, n: int, rng: random.Random):
        """A valid INVITE mutated in a header is passed on, answered, or dropped with a reason."""
        data = mutate(make_invite(n), rng)
        verdict = validate._check(data)
        if verdict.action == "drop":
            self.assertTrue(verdict.problem)  # a log line says why
        elif verdict.action == "reply":
            self.assertIn(verdict.code, (400, 416, 505))
            self.assertRegex(verdict.problem, r"^[ -~]+$")
        else:
            self.assertTrue(verdict.data)
            verdict.data.decode("utf-8")  # sippy only ever sees UTF-8

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
    def test_warning_never_echoes_raw_text(self, problem: str):
        """A reply's reason and Warning are one line of printable ASCII whatever the problem text."""
        head = validate.Head(method="INVITE", vias=["SIP/2.0/UDP h;branch=z9hG4bK1"])
        reply = validate.build_reply(head, 400, problem, problem)
        first, warning = reply.split(b"\r\n")[0], reply.split(b"Warning: ")[1].split(b"\r\n")[0]
        self.assertRegex(first + warning, rb"^[ -~]+$")


class FuzzRunTests(unittest.TestCase):
    timeout = 240
    COUNT = int(os.environ.get("DONKEY_FUZZ_COUNT", "2500"))
    SEED = 4475

    async def test_mutated_invites_at_the_daemon(self):
        """2,500 mutated INVITEs: every answerable one is answered, the daemon stays healthy."""
        daemon = Daemon(self)
        await daemon.ready()
        rss_before = rss_kb(daemon.process.pid)
        client, _ = open_client(self)
        target = ("127.0.0.1", daemon.sip_port)
        rng = random.Random(self.SEED)
        expected: dict[str, int] = {}  # call-id -> how many answers we expect (0/1)
        seen: set[bytes] = set()
        anonymous = 0
        sent = 0
        batch = 50
        for start in range(0, self.COUNT, batch):
            for n in range(start, min(start + batch, self.COUNT)):
                data = mutate(make_invite(n), rng)
                if data in seen:
                    continue
                seen.add(data)
                verdict = validate.check(data)
                head = verdict.head
                answerable = verdict.action != "drop" and not (head and head.method == "ACK")
                call_id = validate.CONTROL.sub("", head.call_id or "").strip() if head else ""
                if not answerable:
                    pass
                elif call_id:
                    expected[call_id] = 1
                else:
                    anonymous += 1  # answered, but the reply cannot name a Call-ID
                assert client.transport is not None
                client.transport.write(data, target)
                sent += 1
            # a barrier per batch keeps a few seconds of load at most in flight
            await send_and_barrier(client, target, b"", timeout=30)
        answered = {call_id_in(r) for r in client.replies}
        anonymous_replies = sum(1 for r in client.replies if not call_id_in(r))
        by_class: dict[str, int] = {}
        for reply in client.replies:
            code = status_of(reply)
            if call_id_in(reply).startswith("probe-"):
                continue
            by_class["%dxx" % (code // 100)] = by_class.get("%dxx" % (code // 100), 0) + 1
        unanswered = sorted(c for c in expected if c not in answered)
        if anonymous_replies < anonymous:
            unanswered.append(f"{anonymous - anonymous_replies} without a Call-ID")
        # healthy: a normal OPTIONS is answered and XML-RPC calls() works
        await send_and_barrier(client, target, options("after-" + uuid.uuid4().hex))
        calls = await daemon.call_xmlrpc("calls")
        rss_after = rss_kb(daemon.process.pid)
        log = daemon.output()
        tracebacks = log.count("Traceback")
        print(
            f"\nfuzz: sent {sent} mutated INVITEs (seed {self.SEED}); replies by class "
            f"{dict(sorted(by_class.items()))}; answerable but unanswered {len(unanswered)}; "
            f"tracebacks in the log {tracebacks}; daemon RSS {rss_before} kB -> {rss_after} kB; "
            f"log {len(log)} bytes"
        )
        self.assertEqual(unanswered, [])
        self.assertEqual(tracebacks, 0)
        self.assertIsInstance(calls, int)
        self.assertLess(len(log), 200_000)  # one line per bad message at most, rate-limited
        await wait_until(lambda: daemon.process.poll() is None, 1, "the daemon alive")


_CALL_ID = re.compile(rb"\r\nCall-ID: *([^\r\n]*)\r\n", re.IGNORECASE)


def call_id_in(reply: bytes) -> str:
    """The Call-ID a reply carries ("" if none)."""
    match = _CALL_ID.search(reply.split(b"\r\n\r\n", 1)[0] + b"\r\n")
    return validate.CONTROL.sub("", match.group(1).decode("latin-1")).strip() if match else ""


def rss_kb(pid: int) -> int:
    """VmRSS of *pid* in kB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
