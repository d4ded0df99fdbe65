import os

from twisted.internet.task import Clock
from twisted.trial import unittest

from donkey.media.clock import MediaClock
from donkey.media.conference import ConferenceBridge, ConferenceError, Tee
from donkey.media.frame import SILENCE
from donkey.media.mixin import MixIn
from donkey.media.sources import PcmSource
from donkey.media.wav import WavCache
from test.media.helpers import samples, tone, write_pcm_wav


def const(v):
    return (int(v).to_bytes(2, "little", signed=True)) * 160


class ConferenceTests(unittest.TestCase):
    def setUp(self):
        self.bridge = ConferenceBridge()

    def tick(self, said):
        for ch, frame in said.items():
            ch.write(frame)
        self.bridge.mix()

    def test_member_never_hears_itself(self):
        """Every member hears the sum of the others, never its own voice; a silent one hears all."""
        a, b, c, d = (self.bridge.join("r", owner=n) for n in "abcd")
        self.tick({a: const(100), b: const(20), c: const(3)})
        self.assertEqual(samples(a.read())[0], 23)
        self.assertEqual(samples(b.read())[0], 103)
        self.assertEqual(samples(c.read())[0], 120)
        self.assertEqual(samples(d.read())[0], 123)  # silent member hears everyone

    def test_two_and_one_speaker_fast_paths(self):
        """With two, one or no speakers each member hears exactly the others (or silence)."""
        a, b, c = (self.bridge.join("r") for _ in range(3))
        self.tick({a: const(5), b: const(7)})
        self.assertEqual([samples(x.read())[0] for x in (a, b, c)], [7, 5, 12])
        self.tick({a: const(9)})
        self.assertEqual([samples(x.read())[0] for x in (a, b, c)], [0, 9, 9])
        self.tick({})
        self.assertEqual([x.read() for x in (a, b, c)], [SILENCE] * 3)

    def test_mix_clips_but_subtracts_exactly(self):
        """A member hears the exact sum of the others even when the whole room's sum clips."""
        a, b, c = (self.bridge.join("r") for _ in range(3))
        self.tick({a: const(30000), b: const(30000), c: const(-20000)})
        # a hears b + c = 10000 exactly even though the room sum (40000) clips
        self.assertEqual(samples(a.read())[0], 10000)
        self.assertEqual(samples(c.read())[0], 32767)

    def test_modes(self):
        """speakonly members hear nothing, listenonly members are not heard, an unknown mode is refused."""
        talk = self.bridge.join("r", "speakonly")
        ear = self.bridge.join("r", "listenonly")
        both = self.bridge.join("r", "")
        self.tick({talk: const(10), ear: const(99), both: const(1)})
        self.assertEqual(talk.read(), SILENCE)  # speakonly hears nothing
        self.assertEqual(samples(ear.read())[0], 11)  # listenonly is not heard
        self.assertEqual(samples(both.read())[0], 10)
        self.assertRaises(ConferenceError, self.bridge.join, "r", "shout")

    def test_rooms_size_members_and_leave(self):
        """Rooms report size and members; leaving (even twice) removes a member, an empty room goes away."""
        a = self.bridge.join("one", owner="A")
        b = self.bridge.join("one", owner="B")
        self.bridge.join("two", owner="C")
        self.assertEqual(
            (self.bridge.size("one"), self.bridge.size("two"), self.bridge.size("x")), (2, 1, 0)
        )
        self.assertEqual(self.bridge.members("one"), ["A", "B"])
        a.close()
        a.close()
        self.assertEqual(self.bridge.members("one"), ["B"])
        b.close()
        self.assertNotIn("one", self.bridge.rooms())

    def test_rooms_are_separate_and_tee_speaks_to_both(self):
        """Rooms do not hear each other; a tee'd speaker is heard in both its rooms."""
        a = self.bridge.join("main")
        b = self.bridge.join("main")
        side = self.bridge.join("side")
        tee = self.bridge.tee_join("side")
        Tee(a, tee).write(const(42))
        self.bridge.mix()
        self.assertEqual(samples(b.read())[0], 42)
        self.assertEqual(samples(side.read())[0], 42)
        self.assertEqual(tee.read(), SILENCE)

    def test_mixed_on_clock_tick_with_sessions(self):
        """Three calls in one room, mixed on the media clock, each hear the other two tones only."""
        from test.media.helpers import FakeCall

        r = Clock()
        mc = MediaClock(r)
        bridge = ConferenceBridge(mc)
        calls = [FakeCall(mc, 41000 + 2 * i) for i in range(3)]
        freqs = (400, 700, 1100)
        peers = [FakeCall(mc, 42000 + 2 * i) for i in range(3)]
        for call, peer, f in zip(calls, peers, freqs):
            call.session.apply_answer(peer.session.answer(call.session.offer()))
            ch = bridge.join("room", owner=call)
            call.session.set_input(ch)
            call.session.set_output(ch)
            peer.session.play_source(PcmSource(tone([f], 400)))
            call.session.connect()
            peer.session.connect()
        heard = {0: [], 1: [], 2: []}
        from donkey.media.rtp import RtpPacket

        for _ in range(15):
            r.advance(0.02)
            for i, (call, peer) in enumerate(zip(calls, peers)):
                for pkt, _ in peer.take_sent():
                    call.ep.datagramReceived(pkt, peer.addr)
                for pkt, _ in call.take_sent():
                    heard[i].append(
                        call.session.negotiated.codec.decode(RtpPacket.parse(pkt).payload)
                    )
        self.assertEqual(bridge.members("room"), calls)
        # call 0 (whose caller sends 400 Hz) hears 700 + 1100 Hz but not itself
        late = heard[0][-3]
        p400 = _power(late, 400)
        p700 = _power(late, 700)
        p1100 = _power(late, 1100)
        self.assertGreater(p700, 100 * p400)
        self.assertGreater(p1100, 100 * p400)
        for c in calls + peers:
            c.session.close()


def _power(pcm, f):
    import math

    c = 2 * math.cos(2 * math.pi * f / 8000)
    s1 = s2 = 0.0
    for x in samples(pcm):
        s1, s2 = x + c * s1 - s2, s1
    return s1 * s1 + s2 * s2 - c * s1 * s2


class MixInTests(unittest.TestCase):
    def test_mixes_file_over_base_once(self):
        """A mixed-in file is added over the base audio at its level, once, then the base alone goes on."""
        d = self.mktemp()
        os.makedirs(d)
        p = os.path.join(d, "beep.wav")
        write_pcm_wav(p, const(1000) * 2, 8000)  # 2 frames of constant 1000
        m = MixIn(PcmSource(const(10) * 10), 0.5, 0, WavCache())
        self.assertEqual(samples(m.read())[0], 10)
        m.play_file(p)
        self.assertEqual([samples(m.read())[0] for _ in range(3)], [510, 510, 10])

    def test_periodic_mix_in(self):
        """A file mixed in every second is heard at 0, 1 and 2 seconds."""
        d = self.mktemp()
        os.makedirs(d)
        p = os.path.join(d, "beep.wav")
        write_pcm_wav(p, const(1000), 8000)
        m = MixIn(None, 1.0, 1, WavCache())  # every second
        m.play_file(p)
        got = [m.read() for _ in range(101)]
        loud = [i for i, f in enumerate(got) if f is not None and samples(f)[0] == 1000]
        self.assertEqual(loud, [0, 50, 100])
