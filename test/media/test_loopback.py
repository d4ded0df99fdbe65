"""Real UDP on 127.0.0.1 through the real reactor: two calls talk to each other."""

import os

from twisted.internet import defer, reactor
from twisted.trial import unittest

from donkey.media.clock import MediaClock
from donkey.media.codecs import by_name
from donkey.media.frame import SILENCE, split_frames
from donkey.media.rtp import NoMediaPortAvailable, PortAllocator
from donkey.media.session import MediaSession
from donkey.media.wav import load_wav
from test.daemon import free_rtp_range
from test.media.helpers import tone, write_pcm_wav
from test.util import wait_until


class Recording:
    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append(frame)


class LoopbackTests(unittest.TestCase):
    timeout = 20

    @defer.inlineCallbacks
    def test_wav_played_by_one_call_is_heard_by_the_other(self):
        """A file one call plays over real UDP reaches the other call frame-exact in PCMA, and so does a DTMF key."""
        d = self.mktemp()
        os.makedirs(d)
        path = os.path.join(d, "hello.wav")
        write_pcm_wav(path, tone([440, 1000], 1000, 16000, amp=5000), 16000)
        ports = PortAllocator(*free_rtp_range(100), "127.0.0.1", reactor)
        clock = MediaClock(reactor)
        a = MediaSession(clock, ports)
        b = MediaSession(clock, ports)
        # b answers a's offer, offering PCMA only to check negotiation end to end
        b.sdp.codecs = [by_name("PCMA")]
        a.apply_answer(b.answer(a.offer()))
        self.assertEqual(a.negotiated.codec.name, "PCMA")
        heard = Recording()
        b.set_output(heard)
        keys = []
        b.on_dtmf = lambda k, ms: keys.append((k, ms))
        done = defer.Deferred()
        a.on_no_audio = lambda: done.callback(None)
        a.play_file(path)
        a.connect()
        b.connect()
        yield done
        a.send_dtmf(5, 100)
        yield defer.ensureDeferred(wait_until(lambda: keys, 5, "the DTMF event at b"))
        a.close()
        b.close()
        yield ports.release(0)  # nothing bound: no-op
        yield defer.ensureDeferred(
            wait_until(lambda: ports.in_use == 0, 5, "both sessions' ports released")
        )
        self.assertFalse(clock.running)

        pcma = by_name("PCMA")
        expected = [pcma.decode(pcma.encode(f)) for f in split_frames(load_wav(path))]
        self.assertEqual(len(expected), 50)
        # (A-law has no zero: silence decodes to +-8, so drop both forms of silence)
        quiet = (SILENCE, pcma.decode(pcma.encode(SILENCE)))
        got = [f for f in heard.frames if f not in quiet]
        # Every frame of the file arrived, in order, bit-exact after G.711.
        self.assertEqual(len(got), len(expected))
        self.assertTrue(got == expected)
        self.assertEqual(keys, [(5, 100)])
        self.assertEqual(b.stats.packets_lost, 0)
        self.assertEqual(b.stats.malformed, 0)
        self.assertEqual(a.rtp.remote, ("127.0.0.1", b.local_port))  # latched / from SDP

    def test_port_exhaustion_refuses_cleanly(self):
        """With the port range used up a new media session is refused with NoMediaPortAvailable."""
        ports = PortAllocator(*free_rtp_range(4), "127.0.0.1", reactor)
        clock = MediaClock(reactor)
        s1 = MediaSession(clock, ports)
        s2 = MediaSession(clock, ports)
        self.assertRaises(NoMediaPortAvailable, MediaSession, clock, ports)
        s1.close()
        s2.close()
        return defer.ensureDeferred(
            wait_until(lambda: ports.in_use == 0, 5, "the ports released after close")
        )
