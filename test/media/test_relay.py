"""RtpRelay: the packets of an RTP-relay B2B call, forwarded between two sessions.

Each side is a :class:`~donkey.media.session.MediaSession` on a fake UDP
transport (donkey's port towards A and towards B), negotiated with a fake
far end, on a :class:`~twisted.internet.task.Clock`.
"""

from __future__ import annotations

import os
import struct

from twisted.internet.task import Clock
from twisted.trial import unittest

from donkey.media._audioop import audioop
from donkey.media.clock import MediaClock
from donkey.media.relay import RtpRelay
from test.media.helpers import FakeCall, tone

A_SSRC = 0x0A0A0A0A
B_SSRC = 0x0B0B0B0B


def packet(
    seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 0, marker: bool = False
) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, ssrc) + payload


def parse(data: bytes) -> tuple[int, bool, int, int, int, bytes]:
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    return data[1] & 0x7F, bool(data[1] & 0x80), seq, ts, ssrc, data[12:]


class RelayTests(unittest.TestCase):
    def setUp(self) -> None:
        self.time = Clock()
        clock = MediaClock(self.time)
        # donkey's two ports (towards A, towards B) and the far ends they talk to
        self.to_a, self.to_b = FakeCall(clock, 40000), FakeCall(clock, 40002)
        self.far_a, self.far_b = FakeCall(clock, 50000), FakeCall(clock, 50002)
        for mine, far in ((self.to_a, self.far_a), (self.to_b, self.far_b)):
            far.session.apply_answer(mine.session.answer(far.session.offer()))
            mine.session.connect()
        self.relay = RtpRelay(self.to_a.session, self.to_b.session)
        self.frame = audioop.lin2ulaw(tone([700.0], 20), 2)

    def sent(self, call: FakeCall) -> list[tuple[tuple[int, bool, int, int, int, bytes], tuple]]:
        return [(parse(data), addr) for data, addr in call.take_sent()]

    def from_a(self, n: int, first_seq: int = 100) -> None:
        for i in range(n):
            data = packet(first_seq + i, 8000 + 160 * i, A_SSRC, self.frame, marker=(i == 0))
            self.to_a.ep.datagramReceived(data, self.far_a.addr)

    def test_caller_packets_reach_callee_unchanged(self):
        """A's packet leaves donkey's B-side port towards B: same payload, type, marker, timestamp."""
        self.relay.start()
        self.to_b.take_sent()
        self.from_a(2)
        sent = self.sent(self.to_b)
        self.assertEqual([addr for _, addr in sent], [self.far_b.addr] * 2)
        (pt, marker, seq0, ts0, ssrc, payload), _ = sent[0]
        self.assertEqual((pt, marker, ts0, payload), (0, True, 8000, self.frame))
        self.assertEqual(sent[1][0][3], 8160)
        self.assertFalse(sent[1][0][1])
        # the B side's own stream: its SSRC and consecutive sequence numbers
        self.assertEqual(ssrc, self.to_b.ep.ssrc)
        self.assertEqual(sent[1][0][2], (seq0 + 1) & 0xFFFF)
        self.assertEqual(self.relay.forwarded, {"a_to_b": 2, "b_to_a": 0})

    def test_callee_packets_reach_caller(self):
        """B's packet goes out of donkey's A-side port to A."""
        self.relay.start()
        self.to_a.take_sent()
        data = packet(7, 320, B_SSRC, self.frame)
        self.to_b.ep.datagramReceived(data, self.far_b.addr)
        sent = self.sent(self.to_a)
        self.assertEqual(len(sent), 1)
        (pt, _, _, ts, _, payload), addr = sent[0]
        self.assertEqual((pt, ts, payload, addr), (0, 320, self.frame, self.far_a.addr))
        self.assertEqual(self.relay.forwarded["b_to_a"], 1)

    def test_sessions_send_nothing_of_their_own_while_relaying(self):
        """While the relay runs the far ends hear only each other, not donkey's playlist."""
        self.time.advance(0.2)
        self.assertTrue(self.to_a.take_sent(), "a connected session sends its own stream")
        self.to_b.take_sent()
        self.relay.start()
        self.time.advance(1.0)
        self.assertEqual(self.to_a.take_sent(), [])
        self.assertEqual(self.to_b.take_sent(), [])

    def test_stop_gives_the_ports_back(self):
        """After stop() nothing is forwarded and each session sends its own stream again."""
        self.relay.start()
        self.relay.stop()
        self.assertFalse(self.relay.running)
        self.to_b.take_sent()
        self.from_a(1)
        self.assertEqual(self.to_b.take_sent(), [])
        self.time.advance(0.2)
        self.assertTrue(self.to_a.take_sent())
        self.assertTrue(self.to_b.take_sent())

    def test_a_session_muted_before_stays_muted(self):
        """stop() unmutes only the sessions the relay muted."""
        self.to_a.session.mute()
        self.relay.start()
        self.relay.stop()
        self.assertTrue(self.to_a.session.muted)
        self.assertFalse(self.to_b.session.muted)

    def test_caller_audio_is_still_recorded(self):
        """recordFile on A's session records what A says while it is relayed to B."""
        path = os.path.join(self.mktemp() + ".wav")
        self.to_a.session.record_file(path)
        self.relay.start()
        for i in range(50):
            data = packet(100 + i, 8000 + 160 * i, A_SSRC, self.frame, marker=(i == 0))
            self.to_a.ep.datagramReceived(data, self.far_a.addr)
            self.time.advance(0.02)
        self.to_a.session.stop_record()
        self.assertGreater(self.to_a.session.record_length_ms, 500)
        self.assertEqual(self.relay.forwarded["a_to_b"], 50)

    def test_nothing_is_sent_from_a_closed_session(self):
        """Once B's side is closed, A's packets are no longer forwarded (and nothing fails)."""
        self.relay.start()
        self.to_b.session.close()
        self.to_b.take_sent()
        self.from_a(1)
        self.assertEqual(self.to_b.take_sent(), [])
        self.assertEqual(self.relay.forwarded["a_to_b"], 0)
        self.relay.stop()
