import os

from twisted.trial import unittest

from donkey.media.playlist import Playlist
from donkey.media.prompts import PromptCollection, PromptNotFound, PromptSets
from donkey.media.wav import MediaFileError, WavCache
from test.media.helpers import tone, write_pcm_wav


class PromptTests(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        for name, f in (("hello", 400), ("bye", 800)):
            write_pcm_wav(os.path.join(self.dir, name + ".wav"), tone([f], 60), 8000)
        self.conf = os.path.join(self.dir, "prompts.conf")
        with open(self.conf, "w") as fh:
            fh.write(
                "# comment\n\nhello=hello.wav\nbye=%s\nbroken=missing.wav\ngarbage line\n"
                % os.path.join(self.dir, "bye.wav")
            )

    def test_load_and_play(self):
        """A prompt config loads its good prompts, names the broken ones, and each play of a prompt is independent."""
        pc = PromptCollection(WavCache())
        failed = pc.load_file(self.conf)
        self.assertEqual(failed, ["broken"])
        self.assertEqual(sorted(pc.names()), ["bye", "hello"])
        pl = Playlist()
        pl.add(pc.source("hello"))
        pl.add(pc.source("hello"))  # independent players
        frames = [pl.read() for _ in range(7)]
        self.assertEqual(frames[:3], frames[3:6])
        self.assertIsNone(frames[6])
        e = self.assertRaises(PromptNotFound, pc.source, "nope")
        self.assertEqual(e.name, "nope")
        self.assertIsInstance(e, KeyError)
        self.assertRaises(MediaFileError, pc.load_file, self.conf, strict=True)

    def test_sets_and_fallback(self):
        """A prompt set falls back to the default set only when asked to; otherwise a missing prompt is PromptNotFound."""
        ps = PromptSets()
        ps.default.add("hello", os.path.join(self.dir, "hello.wav"))
        ps.load_set("de", self.conf)
        self.assertEqual(ps.lookup("bye", "de").path("bye"), os.path.join(self.dir, "bye.wav"))
        only_default = PromptCollection()
        ps.add_set("empty", only_default)
        self.assertRaises(PromptNotFound, ps.lookup, "hello", "empty")
        self.assertIs(ps.lookup("hello", "empty", default_fallback=True), ps.default)
        self.assertRaises(PromptNotFound, ps.get_set, "fr")
