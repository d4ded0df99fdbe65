from twisted.trial import unittest

from donkey.media import codecs
from donkey.media.codecs import UnknownCodec
from donkey.media.frame import FRAME_BYTES
from test.media.helpers import rms, samples, tone


class CodecTests(unittest.TestCase):
    def test_registry(self):
        """Codecs are found by name (any case) or payload type; an unsupported one is UnknownCodec."""
        self.assertEqual(codecs.by_name("pcmu").payload_type, 0)
        self.assertEqual(codecs.by_payload_type(8).name, "PCMA")
        self.assertRaises(UnknownCodec, codecs.by_name, "opus")
        self.assertIsNone(codecs.find("G729"))

    def _round_trip(self, name):
        c = codecs.by_name(name)
        pcm = tone([440], 20)
        self.assertEqual(len(pcm), FRAME_BYTES)
        payload = c.encode(pcm)
        self.assertEqual(len(payload), 160)  # one byte per sample
        back = c.decode(payload)
        self.assertEqual(len(back), FRAME_BYTES)
        # G.711 is lossy but close: error well below the signal level.
        err = [a - b for a, b in zip(samples(pcm), samples(back))]
        self.assertLess(max(abs(e) for e in err), 300)
        self.assertApproximates(rms(back) / rms(pcm), 1.0, 0.02)
        # A second round trip is lossless (values already on the G.711 grid).
        self.assertEqual(c.decode(c.encode(back)), back)

    def test_pcmu_round_trip(self):
        """PCMU encodes a 20 ms frame and decodes it back to nearly the same audio."""
        self._round_trip("PCMU")

    def test_pcma_round_trip(self):
        """PCMA encodes a 20 ms frame and decodes it back to nearly the same audio."""
        self._round_trip("PCMA")

    def test_laws_differ(self):
        """The same audio encodes differently in mu-law and A-law."""
        pcm = tone([1000], 20)
        self.assertNotEqual(codecs.by_name("PCMU").encode(pcm), codecs.by_name("PCMA").encode(pcm))
