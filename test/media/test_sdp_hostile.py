"""SDP and RTP from strangers (issue 11, findings 6 and 13).

Offers no call can use are refused (488 for an INVITE, 488 with the media
unchanged for a re-INVITE); no send error takes a call off the media
clock; a host name in ``c=`` is looked up once, asynchronously.  Property
tests: any text given to the SDP parser, any bytes given to the RTP parser.
"""

from __future__ import annotations

import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import defer, task
from twisted.internet.testing import FakeDatagramTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial import unittest

from donkey.app.call import DSMCall
from donkey.dsm.runtime import Runtime
from donkey.media.clock import MediaClock
from donkey.media.rtp import RtpEndpoint, RtpPacket, parse_header
from donkey.media.sdp import (
    MAX_MEDIA,
    SdpError,
    SdpNegotiator,
    SessionDescription,
    UnsupportedOffer,
)
from donkey.media.session import MediaSession
from test.app.fakes import FakeController, FakeLeg
from test.dsm.helpers import write_scripts
from test.media.helpers import FakeCall


def offer(port: str = "4000", host: str = "192.0.2.10", pts: str = "0 101", media: str = "") -> str:
    return f"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n" + (
        media or f"m=audio {port} RTP/AVP {pts}\r\na=rtpmap:101 telephone-event/8000\r\n"
    )


GOOD = offer()
HOSTILE = {
    "port 70000": offer("70000"),
    "port -5": offer("-5"),
    "non-numeric port": offer("x4000"),
    "garbage": "\x00\xffnot sdp at all\r\n",
    "no m= line": "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n",
    "video only": offer(media="m=video 4000 RTP/AVP 31\r\n"),
    "no common codec": offer(pts="18"),
    "1,000 m-lines": offer(media="m=audio 4000 RTP/AVP 18\r\n" * 1000),
    "huge body": offer() + "a=x:" + "y" * 20000 + "\r\n",
    "bad c= address": offer(host="1.2.3.4;rm -rf"),
    "audio port 0 only": offer("0"),
}


class HostileOffers(unittest.TestCase):
    def negotiator(self) -> SdpNegotiator:
        return SdpNegotiator("127.0.0.1", 40000)

    def test_every_hostile_offer_is_refused(self):
        """Out-of-range ports, garbage, no audio, no codec, too many m-lines or bytes: SdpError (488)."""
        for name, text in HOSTILE.items():
            with self.subTest(name):
                self.assertRaises(SdpError, self.negotiator().make_answer, text)

    def test_many_m_lines_are_refused_before_they_are_looked_at(self):
        """More m= lines than MAX_MEDIA is an UnsupportedOffer, even if one of them would do."""
        text = offer(media="m=audio 4000 RTP/AVP 0\r\n" * (MAX_MEDIA + 1))
        self.assertRaises(UnsupportedOffer, SessionDescription.parse, text)
        self.negotiator().make_answer(offer(media="m=audio 4000 RTP/AVP 0\r\n" * MAX_MEDIA))

    def test_good_offer_still_answered(self):
        """A plain PCMU offer is answered and names the caller's address and port."""
        _, neg = self.negotiator().make_answer(GOOD)
        self.assertEqual(neg.remote_addr, ("192.0.2.10", 4000))


REINVITE_SCRIPT = """
initial state A;
transition "start" A - sessionStart -> TALK;
state TALK;
"""


class HostileReinvite(unittest.TestCase):
    def setUp(self):
        self.time = task.Clock()
        runtime = Runtime(self.time)
        directory = write_scripts(self, talk=REINVITE_SCRIPT)
        bundle = runtime.load_bundle("main", {"diag_path": directory, "load_diags": "talk"})
        clock = MediaClock(self.time)
        self.ours = FakeCall(clock, 40002)
        self.leg = FakeLeg(remote_sdp=GOOD)
        self.call = DSMCall(FakeController(runtime), self.leg, bundle, "talk", self.ours.session)
        self.call.on_invite(self.leg)

    def test_hostile_invite_gets_488(self):
        """Finding 6: an INVITE offering port 70000 is refused with 488, not answered 200."""
        time = task.Clock()
        runtime = Runtime(time)
        directory = write_scripts(self, talk=REINVITE_SCRIPT)
        bundle = runtime.load_bundle("main", {"diag_path": directory, "load_diags": "talk"})
        for name in ("port 70000", "port -5", "no common codec", "1,000 m-lines"):
            with self.subTest(name):
                media = FakeCall(MediaClock(time), 40004).session
                leg = FakeLeg(remote_sdp=HOSTILE[name])
                call = DSMCall(FakeController(runtime), leg, bundle, "talk", media)
                call.on_invite(leg)
                self.assertEqual(leg.sent, [("reply", 488, "Not Acceptable Here")])
                self.assertTrue(call.session.ended)

    def test_unusable_reinvite_gets_488_and_the_call_keeps_its_media(self):
        """Finding 6: a re-INVITE that cannot be honoured is refused (488) and the old codec and address stay."""
        media = self.ours.session
        before = (media.negotiated, media.rtp.remote)
        self.assertEqual(before[1], ("192.0.2.10", 4000))
        for name, text in HOSTILE.items():
            with self.subTest(name):
                self.assertIsNone(self.call.on_reinvite(text))  # the leg answers None with 488
                self.assertEqual((media.negotiated, media.rtp.remote), before)
        self.time.advance(0.02)
        sent = self.ours.take_sent()
        self.assertTrue(sent)
        self.assertEqual({addr for _, addr in sent}, {("192.0.2.10", 4000)})

    def test_good_reinvite_is_still_answered(self):
        """A usable re-INVITE offer gets an SDP answer and moves the media."""
        answer = self.call.on_reinvite(offer(host="192.0.2.20"))
        self.assertIn("m=audio 40002 RTP/AVP 0", answer)
        self.assertEqual(self.ours.session.rtp.remote, ("192.0.2.20", 4000))


class _FailingSocket:
    """A socket whose every send fails as the kernel/CPython would."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def sendto(self, data, addr):
        self.calls += 1
        raise self.error


class _SocketTransport(FakeDatagramTransport):
    def __init__(self, sock) -> None:
        super().__init__()
        self.socket = sock


class SendErrors(unittest.TestCase):
    def setUp(self):
        self.logged: list = []

        def observer(event):
            if (
                event.get("log_namespace") == "donkey.media.rtp"
                and event["log_level"] >= LogLevel.warn
            ):
                self.logged.append(event)

        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    def test_port_out_of_range_never_takes_the_call_off_the_clock(self):
        """Finding 6: sends to port 70000 fail every tick, are counted, logged rarely, and the call keeps ticking."""
        time = task.Clock()
        clock = MediaClock(time)
        ep = RtpEndpoint()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        ep.makeConnection(_SocketTransport(sock))
        session = MediaSession(clock, endpoint=ep, local_ip="127.0.0.1")
        session.answer(GOOD)
        ep.remote = ("127.0.0.1", 70000)  # what an unchecked SDP used to give us
        received = []
        session.on_rtp_timeout = lambda: received.append("timeout")
        session.monitor_rtp_timeout(True, 1.0)
        session.connect()
        for _ in range(100):
            time.advance(0.02)
        self.assertIn(session, clock.sessions)
        self.assertEqual(clock.errors, 0)
        self.assertGreaterEqual(ep.stats.send_errors, 99)
        self.assertEqual(ep.stats.packets_sent, 0)
        self.assertLessEqual(len(self.logged), 8)  # 1, 2, 4, ... not one a packet
        time.advance(0)
        self.assertEqual(received, ["timeout"])  # the RTP timeout still runs

    def test_every_send_error_kind_is_counted(self):
        """OSError, OverflowError and ValueError from sendto are counted, never raised."""
        for error in (
            OSError(101, "Network is unreachable"),
            OverflowError("port"),
            ValueError("x"),
        ):
            ep = RtpEndpoint()
            ep.makeConnection(_SocketTransport(_FailingSocket(error)))
            ep.remote = ("192.0.2.1", 4000)
            ep.send(0, False, 0, b"x")
            ep.send(0, False, 160, b"x")
            self.assertEqual(ep.stats.send_errors, 2, error)


class HostnameInSdp(unittest.TestCase):
    def setUp(self):
        self.time = task.Clock()
        self.lookups: list[str] = []
        self.pending: list[defer.Deferred] = []
        ep = RtpEndpoint()
        ep.local_port = 40002
        self.tr = FakeDatagramTransport()
        ep.makeConnection(self.tr)

        def resolver(name: str) -> defer.Deferred:
            self.lookups.append(name)
            d: defer.Deferred = defer.Deferred()
            self.pending.append(d)
            return d

        self.session = MediaSession(
            MediaClock(self.time), endpoint=ep, local_ip="127.0.0.1", resolver=resolver
        )

    def test_hostname_is_resolved_once_and_never_per_packet(self):
        """Finding 13: c=IN IP4 media.example is looked up once; no media until it answers, then to its address."""
        self.session.answer(offer(host="media.example"))
        self.session.connect()
        for _ in range(50):
            self.time.advance(0.02)
        self.assertEqual(self.lookups, ["media.example"])
        self.assertEqual(self.tr.written, [])  # nothing sent while resolving
        self.pending[0].callback("192.0.2.55")
        for _ in range(50):
            self.time.advance(0.02)
        self.assertEqual(self.lookups, ["media.example"])
        self.assertEqual({addr for _, addr in self.tr.written}, {("192.0.2.55", 4000)})
        self.assertGreaterEqual(len(self.tr.written), 49)

    def test_failed_lookup_leaves_the_stream_unusable(self):
        """A name that does not resolve sends nothing and accepts nothing."""
        self.session.answer(offer(host="nowhere.example"))
        self.session.connect()
        self.pending[0].errback(LookupError("NXDOMAIN"))
        for _ in range(20):
            self.time.advance(0.02)
        self.session.rtp.datagramReceived(RtpPacket(0, 1, 0, 5, b"x" * 160).build(), ("1.2.3.4", 9))
        self.assertEqual(self.tr.written, [])
        self.assertEqual(self.session.stats.packets_received, 0)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_late_answer_for_an_old_sdp_is_ignored(self):
        """A lookup answering after a newer SDP arrived does not move the stream back."""
        self.session.answer(offer(host="old.example"))
        self.session.answer(offer(host="192.0.2.77"))
        self.pending[0].callback("192.0.2.1")
        self.assertEqual(self.session.rtp.remote, ("192.0.2.77", 4000))

    def test_default_resolver_without_reactor_support_fails_cleanly(self):
        """With a clock that cannot resolve names, a host name just means no media."""
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        session = MediaSession(MediaClock(task.Clock()), endpoint=ep, local_ip="127.0.0.1")
        session.answer(offer(host="media.example"))
        self.assertIsNone(session.rtp.remote)


SDP_LINE = st.one_of(
    st.sampled_from(GOOD.split("\r\n")),
    st.builds(
        lambda t, v: f"{t}={v}",
        st.sampled_from("vosctmab"),
        st.text(max_size=40),
    ),
    st.builds(
        lambda port, pts: f"m=audio {port} RTP/AVP {pts}",
        st.one_of(st.integers(-(10**6), 10**6).map(str), st.text(max_size=8)),
        st.text(alphabet="0123456789 ab/", max_size=12),
    ),
)


class SdpProperties(unittest.TestCase):
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(SDP_LINE, max_size=30), st.sampled_from(["\r\n", "\n", "\r"]))
    def test_mutated_sdp_only_raises_sdp_errors_and_ports_stay_in_range(self, lines, sep):
        """Any SDP-like text is answered or refused with SdpError; an accepted remote port is 1-65535."""
        text = sep.join(lines)
        try:
            _, neg = SdpNegotiator("127.0.0.1", 40000).make_answer(text)
        except SdpError:
            return
        if neg.remote_addr is not None:
            self.assertTrue(1 <= neg.remote_addr[1] <= 65535, neg.remote_addr)

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
    def test_random_text_only_raises_sdp_errors(self, text):
        """Random text or bytes: parsed or SdpError, nothing else."""
        try:
            SessionDescription.parse(text)
            neg = SdpNegotiator("127.0.0.1", 40000)
            neg.make_answer(text)
            neg.apply_answer(text)
        except SdpError:
            pass

    @settings(max_examples=300, deadline=None)
    @given(st.lists(SDP_LINE, max_size=20))
    def test_answers_to_our_offer_only_raise_sdp_errors(self, lines):
        """An SDP answer from a stranger is applied or refused with SdpError, never an out-of-range port."""
        neg = SdpNegotiator("127.0.0.1", 40000)
        neg.make_offer()
        try:
            result = neg.apply_answer("\r\n".join(lines))
        except SdpError:
            return
        if result.remote_addr is not None:
            self.assertTrue(1 <= result.remote_addr[1] <= 65535)


class RtpProperties(unittest.TestCase):
    @settings(max_examples=1000, deadline=None)
    @given(st.binary(max_size=400))
    def test_any_bytes_parse_or_are_rejected(self, data):
        """Any datagram: parse_header and RtpPacket.parse return a packet or None, never raise."""
        h = parse_header(data)
        p = RtpPacket.parse(data)
        self.assertEqual(h is None, p is None)
        if h is not None:
            self.assertTrue(12 <= h[5] <= h[6] <= len(data))

    @settings(max_examples=1000, deadline=None)
    @given(st.binary(min_size=1, max_size=400), st.integers(0, 127))
    def test_endpoint_survives_any_datagram(self, data, pt):
        """Any datagram at the endpoint is delivered or counted, never raised."""
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        ep.accept_pts = frozenset({pt})
        ep.set_remote(("127.0.0.1", 9))
        ep.handler = lambda *a: None
        ep.datagramReceived(bytes([0x80]) + data, ("127.0.0.1", 9))
        ep.datagramReceived(data, ("127.0.0.1", 9))
        s = ep.stats
        self.assertEqual(s.packets_received + s.malformed + s.unexpected_pt + s.late, 2)
