"""mod_conference's mix-in as scripts see it: files mixed over what the caller hears."""

from __future__ import annotations

import os

from twisted.trial import unittest

from donkey.dsm import callflow
from donkey.dsm.harness import Harness, Record, RecordingCall
from donkey.media.mixin import MixIn
from donkey.media.wav import WavCache
from test.media.helpers import FakeNet, tone, write_pcm_wav

MIXER = """\
import(mod_conference);
initial state START;
transition "mix in" START - sessionStart / {
  conference.setupMixIn(0.5, 0);
  conference.playMixIn($beep);
} -> ON;
transition "file error" START - exception; test(#type == file) / { set($failed=#path); } -> ON;
state ON;
"""


class MixInCache(unittest.TestCase):
    def setUp(self) -> None:
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "mixer.dsm"), "w") as f:
            f.write(MIXER)
        self.beep = os.path.join(directory, "beep.wav")
        write_pcm_wav(self.beep, tone([1000], 200), 8000)
        self.h = Harness()
        self.h.load("main", {"diag_path": directory, "load_diags": "mixer"})

    def test_mixed_in_file_is_decoded_in_the_calls_shared_cache(self) -> None:
        """A prompt mixed in by one call is decoded once into the server's cache, for all calls."""
        shared = WavCache()  # the server's, handed to every call's media
        media = FakeNet(shared).a.session
        session = self.h.runtime.new_session(
            self.h.runtime.bundles["main"],
            call=RecordingCall(Record()),
            media=media,
            variables={"beep": self.beep},
        )
        callflow.start_inbound(session, "mixer", False)
        self.assertEqual(session.engine.state_name, "ON")
        self.assertEqual(session.vars.get("failed"), None)
        self.assertIsInstance(media.input, MixIn)
        self.assertIsNotNone(shared.get(self.beep))
        self.assertIs(media.input.list.wav_cache, shared)

    def test_harness_media_mixes_in_without_a_cache(self) -> None:
        """In the test harness (no real media) playMixIn still plays files and reports missing ones."""
        ok = self.h.call("mixer", run_invite=False, variables={"beep": self.beep})
        self.assertEqual(ok.state, "ON")
        self.assertEqual(ok.session.vars.get("failed"), None)
        bad = self.h.call("mixer", run_invite=False, variables={"beep": self.beep + ".gone"})
        self.assertEqual(bad.state, "ON")
        self.assertEqual(bad.session.vars["failed"], self.beep + ".gone")
