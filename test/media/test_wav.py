import os

from twisted.trial import unittest

from donkey.media._audioop import audioop
from donkey.media.wav import MediaFileError, WavCache, WavWriter, load_wav, load_wav_async
from test.media.helpers import dominant_freq, rms, tone, write_g711_wav, write_pcm_wav


class WavReadTests(unittest.TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def check(self, pcm, seconds=0.5, freq=440.0, level=8000 / 2**0.5, tol=0.06):
        # 8 kHz mono 16-bit: 16000 bytes per second; the pitch and loudness survive.
        self.assertApproximates(len(pcm), int(16000 * seconds), 40)
        self.assertApproximates(dominant_freq(pcm), freq, freq * 0.03)
        self.assertApproximates(rms(pcm), level, level * tol)

    def test_pcm16_all_rates_mono_and_stereo(self):
        """16-bit WAVs at 8 to 48 kHz, mono or stereo, load as 8 kHz mono audio of the same tone."""
        for rate in (8000, 16000, 32000, 44100, 48000):
            t = tone([440], 500, rate)
            write_pcm_wav(self.path("m%d.wav" % rate), t, rate)
            self.check(load_wav(self.path("m%d.wav" % rate)))
            write_pcm_wav(self.path("s%d.wav" % rate), [t, t], rate)
            self.check(load_wav(self.path("s%d.wav" % rate)))

    def test_stereo_is_downmixed(self):
        """A stereo file plays as the average of its two channels."""
        t = tone([440], 500, 16000)
        write_pcm_wav(self.path("left.wav"), [t, bytes(len(t))], 16000)
        self.check(load_wav(self.path("left.wav")), level=4000 / 2**0.5)  # average of L and R

    def test_8bit_pcm(self):
        """An 8-bit PCM WAV loads as the same tone."""
        write_pcm_wav(self.path("u8.wav"), tone([440], 500), 8000, sampwidth=1)
        self.check(load_wav(self.path("u8.wav")))

    def test_alaw_and_ulaw(self):
        """A-law and mu-law WAVs load as their decoded audio."""
        t = tone([440], 500)
        write_g711_wav(self.path("a.wav"), audioop.lin2alaw(t, 2), 8000, 6)
        write_g711_wav(self.path("u.wav"), audioop.lin2ulaw(t, 2), 8000, 7)
        a, u = load_wav(self.path("a.wav")), load_wav(self.path("u.wav"))
        self.check(a)
        self.check(u)
        self.assertEqual(a, audioop.alaw2lin(audioop.lin2alaw(t, 2), 2))
        self.assertEqual(u, audioop.ulaw2lin(audioop.lin2ulaw(t, 2), 2))
        t16 = tone([440], 500, 16000)
        stereo = audioop.tostereo(t16, 2, 1, 1)
        write_g711_wav(self.path("u16s.wav"), audioop.lin2ulaw(stereo, 2), 16000, 7, channels=2)
        self.check(load_wav(self.path("u16s.wav")))

    def test_errors(self):
        """A missing file, a non-WAV and an unsupported codec are MediaFileErrors carrying the path."""
        e = self.assertRaises(MediaFileError, load_wav, self.path("missing.wav"))
        self.assertEqual(e.path, self.path("missing.wav"))
        with open(self.path("junk.wav"), "wb") as f:
            f.write(b"not a wav file at all")
        self.assertRaises(MediaFileError, load_wav, self.path("junk.wav"))
        write_g711_wav(self.path("g729.wav"), b"\0" * 100, 8000, 0x31)
        self.assertRaises(MediaFileError, load_wav, self.path("g729.wav"))

    def test_cache_reuses_and_notices_changes(self):
        """The WAV cache returns the same frames until the file changes on disk."""
        c = WavCache()
        p = self.path("c.wav")
        write_pcm_wav(p, tone([440], 100), 8000)
        f1 = c.frames(p)
        self.assertIs(c.frames(p), f1)
        self.assertEqual(len(f1), 5)
        write_pcm_wav(p, tone([440], 200), 8000)
        os.utime(p, ns=(1, 1))
        self.assertEqual(len(c.frames(p)), 10)

    def test_async_load(self):
        """A file loads in a thread and arrives as 20 ms frames."""
        p = self.path("async.wav")
        write_pcm_wav(p, tone([440], 100, 48000), 48000)
        d = load_wav_async(p, WavCache())
        d.addCallback(lambda frames: self.assertEqual(len(frames), 5))
        return d

    def test_async_load_fills_the_given_cache_or_none(self):
        """A big file decoded in a thread lands in the cache it was asked for, and nowhere else."""
        p = self.path("async2.wav")
        write_pcm_wav(p, tone([440], 100), 8000)
        cache = WavCache()

        def cached(frames):
            self.assertIs(cache.get(p), frames)
            return load_wav_async(p)

        def uncached(frames):
            self.assertEqual(len(frames), 5)
            self.assertIsNot(cache.get(p), frames)

        d = load_wav_async(p, cache)
        d.addCallback(cached)
        d.addCallback(uncached)
        return d


class WavWriteTests(unittest.TestCase):
    def test_writer_header_is_fixed_up(self):
        """A recording is a readable WAV while still being written, and complete after close (twice is fine)."""
        import wave

        p = self.mktemp()
        w = WavWriter(p, sync_frames=3)
        t = tone([300], 100)
        for i in range(0, len(t), 320):
            w.write(t[i : i + 320])
        # After 3 frames the header was synced: readable mid-recording.
        with wave.open(p) as r:
            self.assertGreaterEqual(r.getnframes(), 480)
        w.close()
        w.close()
        with wave.open(p) as r:
            self.assertEqual((r.getnchannels(), r.getsampwidth(), r.getframerate()), (1, 2, 8000))
            self.assertEqual(r.readframes(10**6), t)

    def test_unwritable_path(self):
        """Recording into a missing directory is a MediaFileError carrying the path."""
        e = self.assertRaises(MediaFileError, WavWriter, "/nonexistent/dir/x.wav")
        self.assertEqual(e.path, "/nonexistent/dir/x.wav")
