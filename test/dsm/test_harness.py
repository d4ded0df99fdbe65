"""The harness fakes hold scripts to the same written interfaces as a live call."""

from __future__ import annotations

import os

from twisted.trial import unittest

from donkey.dsm.errors import CompileError
from donkey.dsm.harness import Harness, Record, RecordingB2B, RecordingCall, RecordingMedia
from donkey.dsm.loader import PromptConfig
from donkey.dsm.protocols import B2BHandle, CallHandle, MediaHandle, protocol_members
from test.dsm.helpers import harness_with, write_scripts

# A module of the test's own: one action asks the media for a method no
# MediaHandle has, as a module written against a wrong guess would.
BAD_MODULE = """
from donkey.dsm.module import Module

module = Module("mod_badmedia")


@module.action("badmedia.play")
def _play(session, event, args):
    session.require_media("badmedia.play").play_loudly(args[0])
"""

# Arguments for every MediaHandle method, to call each one on the fake.
MEDIA_CALLS = {
    "play_file": None,  # needs a file; checked by its own test
    "play_prompt": None,
    "set_prompt_set": None,
    "play_silence": (200,),
    "play_ringtone": (0, 1000, 0, 440),
    "add_separator": ("3",),
    "flush_playlist": (),
    "set_in_out_playlist": (),
    "set_input_playlist": (),
    "set_output_playlist": (),
    "record_file": None,
    "stop_record": (),
    "set_input": (None,),
    "set_output": (None,),
    "connect": (),
    "disconnect": (),
    "enable_receiving": (),
    "disable_receiving": (),
    "enable_force_dtmf_receiving": (),
    "disable_force_dtmf_receiving": (),
    "mute": (),
    "unmute": (),
    "enable_dtmf_detection": (),
    "disable_dtmf_detection": (),
    "monitor_rtp_timeout": (True,),
    "send_dtmf": (5, 100),
    "send_dtmf_sequence": ("12#", 100),
}


class FakesImplementTheProtocols(unittest.TestCase):
    def test_recording_call_has_every_call_handle_member(self):
        """Every CallHandle method and select a script may use exists on the harness call."""
        call = RecordingCall(Record())
        missing = [name for name in protocol_members(CallHandle) if not hasattr(call, name)]
        self.assertEqual(missing, [])

    def test_recording_media_has_every_media_handle_member(self):
        """Every MediaHandle method and property exists on the harness media."""
        media = RecordingMedia(Record())
        missing = [name for name in protocol_members(MediaHandle) if not hasattr(media, name)]
        self.assertEqual(missing, [])

    def test_recording_b2b_has_exactly_the_b2b_handle_members(self):
        """The harness's B2B control has every B2BHandle member and refuses anything else."""
        b2b = RecordingB2B(Record())
        missing = [name for name in protocol_members(B2BHandle) if not hasattr(b2b, name)]
        self.assertEqual(missing, [])
        self.assertRaises(AttributeError, getattr, b2b, "transfer")
        self.assertIsInstance(RecordingCall(Record()).b2b, RecordingB2B)

    def test_the_table_above_covers_the_protocol(self):
        """This test module calls every MediaHandle method (none forgotten when one is added)."""
        methods = {n for n in protocol_members(MediaHandle) if callable(getattr(MediaHandle, n))}
        self.assertEqual(methods, set(MEDIA_CALLS))

    def test_every_media_method_records_itself(self):
        """Each MediaHandle method the script calls shows up in record.media_calls, with its arguments."""
        record = Record()
        media = RecordingMedia(record)
        for name, args in MEDIA_CALLS.items():
            if args is None:
                continue
            getattr(media, name)(*args)
            self.assertEqual(record.media_calls[-1][: 1 + len(args)], (name, *args), name)

    def test_a_method_outside_the_protocol_is_refused(self):
        """Asking the harness media for a method MediaHandle lacks is an AttributeError."""
        media = RecordingMedia(Record())
        self.assertRaises(AttributeError, getattr, media, "play_loudly")
        self.assertRaises(AttributeError, getattr, RecordingCall(Record()), "transfer")

    def test_every_call_method_records_itself(self):
        """Replies, BYE, REFER and in-dialog requests are remembered in order."""
        record = Record()
        call = RecordingCall(record)
        self.assertTrue(call.accept_invite(183, "Session Progress"))
        call.reply(180, "Ringing")
        call.refer("sip:x@y", 30)
        call.send_request("INFO", body="b", content_type="text/plain")
        call.reply_request({"cseq": "2"}, 200, "OK")
        call.bye()
        self.assertEqual(
            [c[0] for c in record.call_calls],
            ["accept_invite", "reply", "refer", "send_request", "reply_request", "bye"],
        )
        self.assertEqual(record.replies, [(183, "Session Progress"), (180, "Ringing")])
        self.assertEqual(record.byes, 1)


class ScriptsUsingWrongMethods(unittest.TestCase):
    def test_module_calling_a_missing_media_method_is_an_error(self):
        """A module action that calls a media method nobody implements throws 'internal'."""
        mods = write_scripts(self)
        with open(os.path.join(mods, "mod_badmedia.py"), "w") as f:
            f.write(BAD_MODULE)
        h = harness_with(
            self,
            conf={"mod_path": mods},
            s="""
            import(mod_badmedia);
            initial state A;
            transition "go" A - sessionStart / badmedia.play(x) -> B;
            state B;
            transition "err" A - exception / set($type=#type) -> B;
            """,
        )
        call = h.call("s")
        self.assertEqual((call.state, call.vars.get("type")), ("B", "internal"))
        (failure,) = self.flushLoggedErrors(AttributeError)
        self.assertIn("play_loudly", str(failure.value))


class HarnessPrompts(unittest.TestCase):
    def prompts_bundle(self, **extra: str) -> Harness:
        base = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(base, "sets"))
        for name in ("hello.wav", "hallo.wav"):
            with open(os.path.join(base, name), "wb") as f:
                f.write(b"RIFF")
        with open(os.path.join(base, "prompts.conf"), "w") as f:
            f.write("hello=hello.wav\n# a comment\n\nbye=missing.wav\n")
        with open(os.path.join(base, "sets", "de"), "w") as f:
            f.write(f"hello={os.path.join(base, 'hallo.wav')}\n")
        conf = {
            "load_prompts": "prompts.conf",
            "prompts_sets_path": "sets",
            "load_prompts_sets": "de",
        }
        conf.update(extra)
        scripts = write_scripts(
            self,
            s="""
            initial state A;
            transition "go" A - sessionStart / {
              playPrompt($first);
              setPromptSet($set);
              playPrompt(hello);
            } -> B;
            state B;
            transition "err" (A, B) - exception / {
              set($type=#type);
              set($name=#name);
            } -> B;
            """,
        )
        h = Harness()
        h.load("main", {"diag_path": scripts, "load_diags": "s", **conf}, base_dir=base)
        return h

    def test_prompts_come_from_the_bundle_files(self):
        """A bundle's load_prompts names (paths relative to the bundle) can be played."""
        h = self.prompts_bundle()
        prompts = h.runtime.bundles["main"].prompts
        self.assertIsInstance(prompts, PromptConfig)
        self.assertEqual([n for n, _ in prompts.default], ["hello", "bye"])
        self.assertTrue(prompts.default[0][1].endswith("/hello.wav"))
        call = h.call("s", variables={"first": "hello", "set": "de"})
        self.assertEqual(call.record.played, ["prompt:hello", "prompt:hello"])
        self.assertEqual(
            [c for c in call.record.media_calls if c[0] == "set_prompt_set"],
            [("set_prompt_set", "de")],
        )
        self.assertNotIn("type", call.vars)

    def test_unknown_prompt_is_the_prompt_exception(self):
        """playPrompt of a name the bundle lacks (or whose WAV is missing) throws 'prompt'."""
        h = self.prompts_bundle()
        for name in ("nope", "bye"):
            call = h.call("s", variables={"first": name, "set": "de"})
            self.assertEqual((call.vars["type"], call.vars["name"]), ("prompt", name))
            self.assertEqual(call.record.played, [])

    def test_unknown_prompt_set_is_the_prompt_exception(self):
        """setPromptSet of a set the bundle does not load throws 'prompt' with #name."""
        h = self.prompts_bundle()
        call = h.call("s", variables={"first": "hello", "set": "fr"})
        self.assertEqual((call.vars["type"], call.vars["name"]), ("prompt", "fr"))
        self.assertEqual(call.record.played, ["prompt:hello"])

    def test_missing_required_prompt_stops_the_load(self):
        """A bundle whose required_prompts are not in its prompts files does not load."""
        e = self.assertRaises(CompileError, self.prompts_bundle, required_prompts="hello,welcome")
        self.assertIn("welcome", str(e))

    def test_unreadable_prompts_file_stops_the_load(self):
        """A load_prompts file that cannot be read is a load error naming it."""
        e = self.assertRaises(CompileError, self.prompts_bundle, load_prompts="nosuch.conf")
        self.assertIn("nosuch.conf", str(e))
