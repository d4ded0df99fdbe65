import os

from twisted.trial import unittest

from donkey.media.frame import FRAME_BYTES, SILENCE
from donkey.media.playlist import Playlist
from donkey.media.sources import PcmSource
from donkey.media.wav import MediaFileError, WavCache
from test.media.helpers import tone, write_pcm_wav


def marker(n: int, frames: int) -> PcmSource:
    """A source of *frames* frames whose every sample is *n* (easy to identify)."""
    return PcmSource(bytes([n, 0]) * (160 * frames))


def ident(frame):
    return None if frame is None else frame[0] if frame != SILENCE else 0


class PlaylistTests(unittest.TestCase):
    def setUp(self):
        self.pl = Playlist(WavCache())
        self.events = []
        self.pl.on_empty = lambda: self.events.append("empty")
        self.pl.on_separator = lambda i: self.events.append(("sep", i))

    def drain(self, n):
        return [ident(self.pl.read()) for _ in range(n)]

    def test_order_without_gaps(self):
        """Items and silence play in the order added, frame after frame, then one 'empty' event."""
        self.pl.add(marker(1, 2))
        self.pl.add(marker(2, 1))
        self.pl.add_silence(40)
        self.pl.add(marker(3, 1))
        self.assertEqual(self.drain(7), [1, 1, 2, 0, 0, 3, None])
        self.assertEqual(self.events, ["empty"])

    def test_empty_fires_once_and_only_after_playing(self):
        """'empty' fires once, when the last item ends, never on a playlist that played nothing."""
        self.assertEqual(self.drain(3), [None] * 3)
        self.assertEqual(self.events, [])  # never played anything
        self.pl.add(marker(1, 1))
        self.assertEqual(self.drain(3), [1, None, None])
        self.assertEqual(self.events, ["empty"])

    def test_front_interrupts_and_current_resumes(self):
        """An item added at the front plays at once; the interrupted item then resumes where it was."""
        self.pl.add(PcmSource(b"".join(bytes([i, 0]) * 160 for i in (1, 2, 3, 4))))
        self.pl.add(marker(9, 1))
        self.assertEqual(self.drain(2), [1, 2])
        self.pl.add(marker(7, 2), front=True)
        self.assertEqual(self.drain(6), [7, 7, 3, 4, 9, None])

    def test_loop_until_flush_without_event(self):
        """A looped item repeats until flush(), which silences it without an 'empty' event."""
        self.pl.add(PcmSource(bytes([1, 0]) * 160 + bytes([2, 0]) * 160, loop=True))
        self.assertEqual(self.drain(5), [1, 2, 1, 2, 1])
        self.pl.flush()
        self.assertEqual(self.drain(2), [None, None])
        self.assertEqual(self.events, [])  # flush is silent

    def test_separator_fires_in_order(self):
        """Separators fire their events when reached, in playlist order, front ones first."""
        self.pl.add(marker(1, 1))
        self.pl.add_separator(5)
        self.pl.add(marker(2, 1))
        self.pl.add_separator(6, front=True)
        self.assertEqual(ident(self.pl.read()), 1)  # front separator 6 is reached before item 1
        self.assertEqual(self.events, [("sep", 6)])
        self.assertEqual(self.drain(2), [2, None])
        self.assertEqual(self.events, [("sep", 6), ("sep", 5), "empty"])

    def test_empty_callback_may_refill_without_gap(self):
        """An 'empty' handler that adds an item keeps the audio going without a silent frame."""
        self.pl.on_empty = lambda: self.pl.add(marker(4, 1))
        self.pl.add(marker(1, 1))
        self.assertEqual(self.drain(3), [1, 4, 4])

    def test_ringtone_cadence(self):
        """A ringtone plays its on/off cadence for its length, then ends."""
        self.pl.add_ringtone(1000, 100, 100, 425)
        frames = [self.pl.read() for _ in range(51)]
        self.assertIsNone(frames[-1])  # 1000 ms = 50 frames
        on = [f != SILENCE for f in frames[:50]]
        self.assertEqual(on[:10], [True] * 5 + [False] * 5)
        self.assertEqual(on[10:20], on[:10])

    def test_files(self):
        """A looped file repeats frame-exact; a missing file is a MediaFileError naming it."""
        d = self.mktemp()
        os.makedirs(d)
        p = os.path.join(d, "p.wav")
        write_pcm_wav(p, tone([500], 100, 16000), 16000)
        self.pl.add_file(p, loop=True)
        frames = [self.pl.read() for _ in range(12)]
        self.assertTrue(all(len(f) == FRAME_BYTES for f in frames))
        self.assertEqual(frames[5:10], frames[0:5])  # looped, 5 frames per pass
        e = self.assertRaises(MediaFileError, self.pl.add_file, os.path.join(d, "nope.wav"))
        self.assertEqual(e.path, os.path.join(d, "nope.wav"))
        self.assertEqual(len(self.pl), 1)  # failed add left the list alone
