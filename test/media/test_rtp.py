import errno
import struct

from twisted.internet.defer import inlineCallbacks
from twisted.internet.testing import FakeDatagramTransport
from twisted.trial import unittest

from donkey.media import rtp
from donkey.media.rtp import (
    READ_IGNORE_ERRNOS,
    NoMediaPortAvailable,
    PortAllocator,
    RtpEndpoint,
    RtpPacket,
    _RtpPort,
    parse_header,
)
from test.daemon import free_rtp_range


class PacketTests(unittest.TestCase):
    def test_build_parse(self):
        """An RTP packet with marker and CSRCs builds to the wire format and parses back equal."""
        p = RtpPacket(0, 65535, 0xFFFFFFF0, 0x12345678, b"\x01" * 160, marker=True, csrcs=(7, 9))
        data = p.build()
        self.assertEqual(len(data), 12 + 8 + 160)
        self.assertEqual(data[0], 0x82)
        self.assertEqual(data[1], 0x80)
        self.assertEqual(RtpPacket.parse(data), p)

    def test_padding_and_extension(self):
        """Padding and a header extension are stripped; the payload and header fields come through."""
        payload = b"abcd"
        ext = struct.pack("!HH", 0xBEDE, 1) + b"\0\0\0\1"
        data = struct.pack("!BBHII", 0xB0, 8, 1, 2, 3) + ext + payload + b"\0\0\x03"
        p = RtpPacket.parse(data)
        self.assertEqual(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.payload), (8, 1, 2, 3, payload)
        )

    def test_garbage_is_dropped_not_raised(self):
        """Truncated or inconsistent RTP datagrams parse to None instead of raising."""
        good = RtpPacket(0, 1, 2, 3, b"x" * 10).build()
        bad = [
            b"",
            b"\x80",
            b"\x00" * 12,  # too short / version 0
            b"\x40" + good[1:],  # version 1
            bytes([0x8F]) + good[1:],  # 15 CSRCs announced, not present
            bytes([0x90]) + good[1:12],  # extension announced, missing
            bytes([0xA0]) + good[1:-1] + b"\x00",  # padding count 0
            bytes([0xA0]) + good[1:-1] + b"\xff",  # padding longer than packet
        ]
        for b in bad:
            self.assertIsNone(RtpPacket.parse(b), b)
            self.assertIsNone(parse_header(b))

    def test_endpoint_counts_garbage_and_keeps_working(self):
        """Garbage and unexpected payload types are counted, never latched on, and good packets still arrive."""
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        ep.accept_pts = frozenset({0})
        ep.set_remote(("10.0.0.1", 5))  # the remote SDP's address
        got = []
        ep.handler = lambda *a: got.append(a)
        for junk in (b"", b"hello", b"\xff" * 40, RtpPacket(96, 1, 1, 1, b"x").build()):
            ep.datagramReceived(junk, ("10.0.0.1", 5))
        self.assertEqual(got, [])
        self.assertEqual(ep.stats.malformed, 3)
        self.assertEqual(ep.stats.unexpected_pt, 1)
        self.assertEqual(ep.remote, ("10.0.0.1", 5))  # garbage never latches
        self.assertTrue(ep.latch_open)
        ep.datagramReceived(RtpPacket(0, 5, 160, 1, b"y" * 160).build(), ("10.0.0.1", 5))
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][4], b"y" * 160)


class LatchingTests(unittest.TestCase):
    def test_symmetric_rtp_latches_to_source(self):
        """With rtp_latching=any donkey sends to the SDP address until RTP arrives, then to where it came from."""
        tr = FakeDatagramTransport()
        ep = RtpEndpoint(ssrc=42, latching="any")
        ep.makeConnection(tr)
        ep.accept_pts = frozenset({0})
        ep.remote = ("192.0.2.1", 4000)  # from SDP, behind NAT in reality
        ep.send(0, False, 0, b"a")
        ep.datagramReceived(RtpPacket(0, 1, 0, 9, b"z").build(), ("198.51.100.7", 31000))
        ep.send(0, False, 160, b"b")
        self.assertEqual([a for _, a in tr.written], [("192.0.2.1", 4000), ("198.51.100.7", 31000)])
        first, second = (RtpPacket.parse(p) for p, _ in tr.written)
        self.assertEqual(second.sequence, (first.sequence + 1) & 0xFFFF)
        self.assertEqual(first.ssrc, 42)

    def test_loss_and_duplicates_counted(self):
        """Across a sequence wrap, duplicates and late packets are dropped and counted, the gap as lost."""
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        ep.accept_pts = frozenset({0})
        ep.set_remote(("1.2.3.4", 5))
        got = []
        ep.handler = lambda pt, m, seq, ts, p: got.append(seq)
        for seq in (65534, 65535, 1, 1, 0, 2):  # wraps, loses 0, dup 1, late 0
            ep.datagramReceived(RtpPacket(0, seq, 0, 5, b"x").build(), ("1.2.3.4", 5))
        self.assertEqual(got, [65534, 65535, 1, 2])
        self.assertEqual(ep.stats.packets_lost, 1)
        self.assertEqual(ep.stats.late, 2)

    def test_sequence_restart_far_behind_is_accepted(self):
        # One SSRC, numbering restarted far behind (sipp replaying captures
        # recorded in another order): a new stream, not 150 late packets.
        """A stream whose numbering restarts far behind is taken as a new stream, not late packets."""
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        ep.accept_pts = frozenset({101})
        ep.set_remote(("1.2.3.4", 5))
        got = []
        ep.handler = lambda pt, m, seq, ts, p: got.append(seq)
        for seq in (8436, 8437, 8437, 8380, 8293, 8294):
            ep.datagramReceived(RtpPacket(101, seq, 0, 5, b"x").build(), ("1.2.3.4", 5))
        self.assertEqual(got, [8436, 8437, 8293, 8294])
        self.assertEqual(ep.stats.late, 2)  # the duplicate, and 57 behind (< 100): late
        self.assertEqual(ep.stats.packets_lost, 0)

    def test_empty_datagram_is_malformed(self):
        """An empty datagram counts as malformed."""
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        ep.datagramReceived(b"", ("1.2.3.4", 5))
        self.assertEqual(ep.stats.malformed, 1)


class PortAllocatorTests(unittest.TestCase):
    @inlineCallbacks
    def test_pairs_and_exhaustion(self):
        """Ports come in even RTP/RTCP pairs; a full range is refused naming it; released ports come back."""
        from twisted.internet import reactor

        low, high = free_rtp_range(4)
        alloc = PortAllocator(low, high, "127.0.0.1", reactor)
        a, b = RtpEndpoint(), RtpEndpoint()
        pa = alloc.bind(a)
        pb = alloc.bind(b)
        self.assertEqual(sorted([pa, pb]), [low, low + 2])
        self.assertEqual(a.local_port, pa)
        e = self.assertRaises(NoMediaPortAvailable, alloc.bind, RtpEndpoint())
        self.assertIn(f"{low}-{high}", str(e))
        yield alloc.release(pa)
        yield alloc.release(pa)  # idempotent
        self.assertEqual(alloc.bind(RtpEndpoint()), pa)
        for p in list(alloc._bound):
            yield alloc.release(p)
        self.assertEqual(alloc.in_use, 0)

    @inlineCallbacks
    def test_skips_ports_held_by_others(self):
        """A pair whose RTCP port another process holds is skipped."""
        from twisted.internet import reactor
        from twisted.internet.protocol import DatagramProtocol

        low, high = free_rtp_range(4)
        squatter = reactor.listenUDP(
            low + 1, DatagramProtocol(), interface="127.0.0.1"
        )  # an RTCP port
        self.addCleanup(squatter.stopListening)
        alloc = PortAllocator(low, high, "127.0.0.1", reactor)
        port = alloc.bind(RtpEndpoint())
        self.assertEqual(port, low + 2)
        yield alloc.release(port)


class _Socket:
    """Stands in for the UDP socket: each recvfrom returns or raises the next item."""

    def __init__(self, *items):
        self.items = list(items)

    def recvfrom(self, size):
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


class _Raising(RtpEndpoint):
    def datagramReceived(self, data, addr):
        raise RuntimeError("handler boom")


class RtpPortReadTests(unittest.TestCase):
    def _port(self, protocol, *items):
        from twisted.internet import reactor

        port = _RtpPort(0, protocol, "127.0.0.1", 8192, reactor)
        port.socket = _Socket(*items)
        return port

    def test_harmless_receive_errors_are_ignored(self):
        """A drained socket, a signal or an ICMP port-unreachable never breaks the call's socket."""
        self.assertEqual(
            READ_IGNORE_ERRNOS,
            {errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNREFUSED},
        )
        got = []
        ep = RtpEndpoint()
        ep.handler = lambda *a: got.append(a)
        ep.accept_pts = frozenset({0})
        ep.set_remote(("127.0.0.1", 4000))
        pkt = RtpPacket(0, 1, 160, 7, b"x" * 160).build()
        port = self._port(ep, *(OSError(e, "x") for e in sorted(READ_IGNORE_ERRNOS)))
        for _ in READ_IGNORE_ERRNOS:
            port.doRead()
        port.socket = _Socket((pkt, ("127.0.0.1", 4000)))
        port.doRead()
        self.assertEqual(len(got), 1)

    def test_other_receive_errors_propagate(self):
        """A real socket error (EBADF) reaches the reactor, which drops the port."""
        port = self._port(RtpEndpoint(), OSError(errno.EBADF, "bad"))
        e = self.assertRaises(OSError, port.doRead)
        self.assertEqual(e.errno, errno.EBADF)

    def test_failing_handler_logged_at_powers_of_two(self):
        """A handler failing on every packet logs 1st, 2nd, 4th, 8th failure, not each packet."""
        pkt = (b"\x80" * 12, ("127.0.0.1", 4000))
        port = self._port(_Raising(), *([pkt] * 10))
        for _ in range(10):
            port.doRead()
        self.assertEqual(port.handler_errors, 10)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 4)


class JitterTests(unittest.TestCase):
    """RFC 3550 interarrival jitter, from when packets arrive against their timestamps."""

    def receive(self, arrivals_ms: list[float], ts_step: int = 160) -> RtpEndpoint:
        ep = RtpEndpoint()
        ep.makeConnection(FakeDatagramTransport())
        ep.accept_pts = frozenset({0})
        ep.set_remote(("10.0.0.1", 5))
        now = [0.0]
        self.patch(rtp, "monotonic", lambda: now[0])
        for i, at in enumerate(arrivals_ms):
            now[0] = at / 1000.0
            packet = RtpPacket(0, i, (0xFFFFFF00 + i * ts_step) & 0xFFFFFFFF, 7, b"x" * 160)
            ep.datagramReceived(packet.build(), ("10.0.0.1", 5))
        return ep

    def test_steady_stream_has_no_jitter(self):
        """Packets every 20 ms, 160 samples apart, show no jitter (even across a timestamp wrap)."""
        ep = self.receive([20.0 * i for i in range(100)])
        self.assertAlmostEqual(ep.stats.jitter_seconds(), 0.0, places=6)

    def test_alternating_spacing_converges_to_the_swing(self):
        """Packets alternately 10 and 30 ms apart settle at 10 ms of jitter, as RFC 3550 computes it."""
        arrivals, t = [], 0.0
        for i in range(400):
            arrivals.append(t)
            t += 10.0 if i % 2 else 30.0
        ep = self.receive(arrivals)
        self.assertAlmostEqual(ep.stats.jitter_seconds(), 0.010, places=4)
