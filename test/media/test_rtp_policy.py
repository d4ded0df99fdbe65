"""Where RTP is accepted from and where our audio goes (issue 11, finding 5).

Packets are taken from the remote SDP's address and port; symmetric-RTP
latching moves the destination once, to the first packet's source, as far
as ``rtp_latching`` allows; everything else is dropped and counted.
"""

from __future__ import annotations

import socket

from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport
from twisted.trial import unittest

from donkey.media.clock import MediaClock
from donkey.media.rtp import RtpEndpoint, RtpPacket
from donkey.media.session import MediaSession
from test.util import wait_until

CALLER = ("192.0.2.10", 4000)
ATTACKER = ("203.0.113.66", 6666)


def packet(seq: int, pt: int = 0) -> bytes:
    return RtpPacket(pt, seq, seq * 160, 77, b"\xff" * 160).build()


def endpoint(latching: str) -> tuple[RtpEndpoint, FakeDatagramTransport, list]:
    """An endpoint whose remote SDP names CALLER, on a fake socket; and what it delivered."""
    ep = RtpEndpoint(latching=latching)
    tr = FakeDatagramTransport()
    ep.makeConnection(tr)
    ep.accept_pts = frozenset({0})
    got: list = []
    ep.handler = lambda pt, m, seq, ts, p: got.append(seq)
    ep.set_remote(CALLER)
    return ep, tr, got


class SourcePolicy(unittest.TestCase):
    def test_one_attacker_packet_does_not_redirect_the_audio(self):
        """Finding 5: after the caller's RTP flows, a packet from elsewhere is dropped and audio stays with the caller."""
        for mode in ("off", "address", "any"):
            ep, tr, got = endpoint(mode)
            ep.datagramReceived(packet(1), CALLER)
            ep.datagramReceived(packet(2), ATTACKER)
            ep.datagramReceived(packet(3), (CALLER[0], 5000))  # same host, other port
            ep.send(0, False, 0, b"x")
            self.assertEqual(got, [1], mode)
            self.assertEqual(ep.remote, CALLER, mode)
            self.assertEqual(tr.written[-1][1], CALLER, mode)
            self.assertEqual(ep.stats.wrong_source, 2, mode)
            self.assertEqual(ep.stats.relatched, 0, mode)

    def test_address_mode_latches_once_to_another_port_of_the_sdp_address(self):
        """rtp_latching=address: the first packet from the SDP's host at another port is where audio goes; nothing later moves it."""
        ep, tr, got = endpoint("address")
        ep.datagramReceived(packet(1), ATTACKER)  # a stranger first: not eligible
        self.assertTrue(ep.latch_open)
        natted = (CALLER[0], 31000)
        ep.datagramReceived(packet(2), natted)
        ep.datagramReceived(packet(3), (CALLER[0], 31002))
        ep.datagramReceived(packet(4), CALLER)
        ep.send(0, False, 0, b"x")
        self.assertEqual(got, [2])
        self.assertEqual(ep.remote, natted)
        self.assertEqual(tr.written[-1][1], natted)
        self.assertEqual((ep.stats.relatched, ep.stats.wrong_source), (1, 3))

    def test_any_mode_latches_once_to_any_address(self):
        """rtp_latching=any: a caller behind NAT is found at whatever address it sends from, once."""
        ep, tr, got = endpoint("any")
        natted = ("198.51.100.7", 31000)
        ep.datagramReceived(packet(1), natted)
        ep.datagramReceived(packet(2), ATTACKER)
        ep.datagramReceived(packet(3), natted)
        self.assertEqual(got, [1, 3])
        self.assertEqual(ep.remote, natted)
        self.assertEqual(ep.stats.wrong_source, 1)

    def test_off_mode_takes_only_the_sdp_address_and_port(self):
        """rtp_latching=off: a packet from the SDP's host at another port is dropped even as the first."""
        ep, _, got = endpoint("off")
        ep.datagramReceived(packet(1), (CALLER[0], 31000))
        ep.datagramReceived(packet(2), CALLER)
        self.assertEqual(got, [2])
        self.assertEqual(ep.remote, CALLER)
        self.assertEqual(ep.stats.wrong_source, 1)

    def test_garbage_and_wrong_payload_types_never_latch(self):
        """Malformed packets and unexpected payload types from a stranger leave the latching window open."""
        ep, _, got = endpoint("any")
        ep.datagramReceived(b"\x80" * 8, ATTACKER)
        ep.datagramReceived(packet(1, pt=96), ATTACKER)
        self.assertTrue(ep.latch_open)
        self.assertEqual(ep.remote, CALLER)
        self.assertEqual(got, [])

    def test_no_remote_sdp_yet_accepts_nothing(self):
        """Before any remote SDP address is known, packets are dropped and nothing is latched."""
        ep = RtpEndpoint(latching="any")
        ep.makeConnection(FakeDatagramTransport())
        ep.accept_pts = frozenset({0})
        ep.datagramReceived(packet(1), ATTACKER)
        self.assertIsNone(ep.remote)
        self.assertEqual((ep.stats.packets_received, ep.stats.wrong_source), (0, 1))

    def test_unknown_mode_is_refused(self):
        """An rtp_latching value other than off/address/any is a ValueError."""
        self.assertRaises(ValueError, RtpEndpoint, latching="sometimes")


class SessionPolicy(unittest.TestCase):
    def setUp(self):
        self.time = Clock()
        self.clock = MediaClock(self.time)

    def session(self, latching: str | None = None) -> tuple[MediaSession, FakeDatagramTransport]:
        ep = RtpEndpoint()
        ep.local_port = 40002
        tr = FakeDatagramTransport()
        ep.makeConnection(tr)
        return MediaSession(self.clock, endpoint=ep, local_ip="127.0.0.1", latching=latching), tr

    def offer(self, host: str = CALLER[0], port: int = CALLER[1], direction: str = "sendrecv"):
        return (
            "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=%s\r\n" % (host, host, port, direction)
        )

    def test_session_passes_the_policy_to_its_endpoint(self):
        """MediaSession(latching=...) sets the endpoint's policy; without it the default is address."""
        self.assertEqual(self.session()[0].rtp.latching, "address")
        self.assertEqual(self.session("off")[0].rtp.latching, "off")

    def test_repeated_sdp_keeps_the_latched_source(self):
        """A re-INVITE repeating the same SDP (refresh, hold, resume) keeps the latched source and locks latching."""
        s, tr = self.session("address")
        s.answer(self.offer())
        natted = (CALLER[0], 31000)
        s.rtp.datagramReceived(packet(1), natted)
        for direction in ("sendonly", "sendrecv"):
            s.answer(self.offer(direction=direction))
        self.assertEqual(s.rtp.remote, natted)
        self.assertFalse(s.rtp.latch_open)
        s.rtp.datagramReceived(packet(2), (CALLER[0], 31002))
        self.assertEqual(s.rtp.remote, natted)

    def test_new_sdp_address_moves_the_stream_and_reopens_latching(self):
        """A re-INVITE naming a new address sends there and may latch once more."""
        s, tr = self.session("address")
        s.answer(self.offer())
        s.rtp.datagramReceived(packet(1), CALLER)
        s.answer(self.offer(host="192.0.2.20", port=5000))
        self.assertEqual(s.rtp.remote, ("192.0.2.20", 5000))
        self.assertTrue(s.rtp.latch_open)
        s.rtp.datagramReceived(packet(2), CALLER)  # the old address: no longer the caller
        self.assertEqual(s.rtp.remote, ("192.0.2.20", 5000))

    async def test_real_socket_drops_a_strangers_packets(self):
        """On real loopback sockets the stranger's packet is counted as wrong_source and never delivered."""
        from twisted.internet import reactor

        caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(caller.close)
        self.addCleanup(stranger.close)
        caller.bind(("127.0.0.1", 0))
        stranger.bind(("127.0.0.1", 0))
        ep = RtpEndpoint(latching="off")
        ep.accept_pts = frozenset({0})
        got: list = []
        ep.handler = lambda pt, m, seq, ts, p: got.append(seq)
        port = reactor.listenUDP(0, ep, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        ep.set_remote(caller.getsockname())
        here = ("127.0.0.1", port.getHost().port)
        stranger.sendto(packet(1), here)
        caller.sendto(packet(2), here)
        await wait_until(lambda: ep.stats.wrong_source == 1 and got == [2], 5.0, "both packets")
