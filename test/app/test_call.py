"""The call glue: a SIP leg and its media become events of one DSM session."""

from __future__ import annotations

import os

from twisted.internet import task
from twisted.logger import formatEvent
from twisted.trial import unittest

from donkey.app.call import DSMCall, DSMMedia, offer_warning, quoted_display
from donkey.dsm.protocols import CallHandle, MediaHandle, protocol_members
from donkey.dsm.runtime import Runtime
from donkey.media.prompts import PromptCollection, PromptSets
from donkey.media.session import MediaSession
from donkey.media.wav import WavCache
from test.app.fakes import FakeController, FakeLeg, FakeMediaSession
from test.dsm.helpers import write_scripts
from test.media.e2e_helpers import write_wav
from test.media.helpers import tone

SCRIPT = """
initial state A;
transition "invite" A - invite / set($saw_invite=yes) -> A;
transition "start" A - sessionStart / { set($started=yes); set($user=@user); set($from=@remote_party); } -> TALK;
state TALK;
transition "done" TALK - keyPress(11) / stop(true) -> TALK;
transition "key" TALK - key / set($key=#key) -> TALK;
transition "bye" (A, TALK) - hangup / stop(false) -> TALK;
transition "timeout" TALK - rtpTimeout / set($timeout=#timeout_value) -> TALK;
"""

COUNTED = """
initial state A;
transition "invite" A - invite / set($saw_invite=yes) -> A;
transition "start" A - sessionStart / { set($started=yes); log(2, "counted in"); } -> TALK;
state TALK;
transition "bye" (A, TALK) - hangup / stop(false) -> TALK;
transition "gone" (A, TALK) - beforeDestroy / set($counted_out=yes) -> TALK;
"""

AUDIO_PCMU = (
    "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
)

KEEP = """
initial state A;
transition "start" A - sessionStart / set($started=yes) -> TALK;
state TALK;
transition "timeout" TALK - rtpTimeout / set(#processed=true) -> TALK;
"""


class LiveClassesImplementTheProtocols(unittest.TestCase):
    def test_dsm_media_has_every_media_handle_member(self):
        """Every MediaHandle member is written out on DSMMedia, and it proxies nothing else."""
        missing = [n for n in protocol_members(MediaHandle) if not hasattr(DSMMedia, n)]
        self.assertEqual(missing, [])
        self.assertNotIn("__getattr__", vars(DSMMedia))

    def test_dsm_media_delegates_only_to_real_media_session_methods(self):
        """Each MediaHandle method DSMMedia passes on exists on MediaSession (no typo reaches a call)."""
        for name in protocol_members(MediaHandle) - {"play_prompt", "set_prompt_set"}:
            self.assertTrue(hasattr(MediaSession, name), name)


class CallGlue(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.runtime = Runtime(self.clock)
        directory = write_scripts(self, s=SCRIPT, keep=KEEP, counted=COUNTED)
        self.bundle = self.runtime.load_bundle(
            "main",
            {"diag_path": directory, "load_diags": "s,keep,counted", "run_invite_event": "yes"},
        )
        self.controller = FakeController(self.runtime, dead_rtp_time=12)

    def new_call(self, app="s", **media_kw):
        self.leg = FakeLeg()
        self.media = FakeMediaSession(**media_kw)
        call = DSMCall(self.controller, self.leg, self.bundle, app, self.media)
        call.on_invite(self.leg)
        return call

    def test_dsm_call_has_every_call_handle_member(self):
        """Every CallHandle member a script may reach is written out on DSMCall."""
        call = self.new_call()
        missing = [n for n in protocol_members(CallHandle) if not hasattr(call, n)]
        self.assertEqual(missing, [])
        self.assertNotIn("__getattr__", vars(DSMCall))
        self.assertRaises(AttributeError, getattr, call, "transfer")

    def test_inbound_call_is_answered_with_sdp(self):
        """A new INVITE runs invite, is answered 200 with our SDP, then sessionStart runs."""
        call = self.new_call()
        v = call.session.vars
        self.assertEqual((v["saw_invite"], v["started"]), ("yes", "yes"))
        self.assertEqual(self.leg.sent, [("accept", 200, "OK", "v=0 answer")])
        self.assertTrue(self.media.connected)
        self.assertTrue(call.replied and call.accepted)

    def test_selects_read_the_leg(self):
        """@user and @remote_party are the SIP leg's."""
        call = self.new_call()
        self.assertEqual(call.session.vars["user"], "35")
        self.assertEqual(call.session.vars["from"], '"caller" <sip:caller@127.0.0.1>')
        self.assertEqual(call.request_headers.get("x-thing"), "yes")

    def test_unanswerable_offer_gets_488_and_the_call_ends(self):
        """An offer without a common codec is refused with 488 and the session ends."""
        call = self.new_call(refuse_offer=True)
        self.assertEqual(self.leg.sent, [("reply", 488, "Not Acceptable Here")])
        self.assertTrue(call.session.ended)
        self.assertNotIn("started", call.session.vars)
        self.assertTrue(self.media.closed)
        self.assertEqual(self.controller.ended, [call])

    def test_refused_offer_runs_no_event_of_the_script(self):
        """A call refused with 488 never started: no invite, no sessionStart, no beforeDestroy."""
        call = self.new_call(app="counted", refuse_offer=True)
        self.assertEqual(self.leg.sent, [("reply", 488, "Not Acceptable Here")])
        self.assertTrue(call.session.ended)
        for name in ("saw_invite", "started", "counted_out"):
            self.assertNotIn(name, call.session.vars)
        self.assertEqual(self.controller.ended, [call])

    def test_a_started_call_runs_before_destroy(self):
        """A call that was answered runs beforeDestroy at its end, as before."""
        call = self.new_call(app="counted")
        call.on_hangup("", False)
        self.assertTrue(call.session.ended)
        self.assertEqual(call.session.vars["counted_out"], "yes")

    def test_488_names_what_was_missing(self):
        """The 488 to an unusable offer carries a Warning header (RFC 3261 20.43)."""
        self.new_call(refuse_offer=True)
        self.assertRegex(self.leg.reply_headers, r'^Warning: 3\d\d donkey "[^"]+"\r\n$')

    def test_warning_codes_follow_rfc_3261(self):
        """No audio stream is 304, an unknown transport 302, no codec in common 305, garbage 399."""
        video = AUDIO_PCMU.replace("m=audio 4000 RTP/AVP 0", "m=video 4000 RTP/AVP 96")
        cases = [
            (video, "304"),
            (AUDIO_PCMU.replace("RTP/AVP", "UDP/TLS/RTP/SAVP"), "302"),
            (AUDIO_PCMU.replace("RTP/AVP 0", "RTP/AVP 99"), "305"),
            ("this is not sdp", "399"),
        ]
        for offer, code in cases:
            self.assertTrue(offer_warning(offer).startswith("Warning: %s donkey " % code), offer)

    def test_script_log_lines_carry_the_call_id(self):
        """A DSM log() line of a live call starts with its Call-ID and has a call_id field."""
        seen: list[dict] = []
        self.runtime.log_observer = seen.append
        self.new_call(app="counted")
        (line,) = [e for e in seen if e.get("dsm_log")]
        self.assertEqual(line["call_id"], "call-1@h")
        self.assertTrue(formatEvent(line).startswith("call-1@h: FSM: "), formatEvent(line))

    def test_keys_from_the_media_are_key_events(self):
        """A DTMF key the media detects reaches the script as a key event with #key."""
        call = self.new_call()
        self.media.on_dtmf(5, 120)
        self.assertEqual(call.session.vars["key"], "5")

    def test_script_stop_true_sends_bye(self):
        """stop(true) in the script sends BYE, stops the media and frees the call."""
        call = self.new_call()
        self.media.on_dtmf(11, 100)
        self.assertEqual(self.leg.sent[-1], ("bye", ""))
        self.assertFalse(self.media.connected)
        self.assertTrue(call.session.ended)
        self.assertTrue(self.media.closed)
        self.assertEqual(self.controller.ended, [call])

    def test_remote_bye_is_the_hangup_event(self):
        """The caller's BYE stops the media and the script sees hangup; no BYE is sent back."""
        call = self.new_call()
        call.on_hangup("", False)
        call.on_terminated()
        self.assertFalse(self.media.connected)
        self.assertTrue(call.session.ended)
        self.assertNotIn(("bye", ""), self.leg.sent)
        self.assertEqual(self.controller.ended, [call])

    def test_rtp_timeout_ends_the_call_unless_processed(self):
        """rtpTimeout hangs up with BYE unless the script set #processed=true."""
        call = self.new_call()
        self.media.rtp_timeout_seconds = 12.0
        self.media.on_rtp_timeout()
        self.assertEqual(call.session.vars["timeout"], "12")
        self.assertEqual(self.leg.sent[-1], ("bye", ""))
        kept = self.new_call("keep")
        self.media.on_rtp_timeout()
        self.assertFalse(kept.session.ended)
        self.assertNotIn(("bye", ""), self.leg.sent)

    def test_request_events_only_when_enabled(self):
        """In-dialog requests become sipRequest events only with $enable_request_events=true."""
        call = self.new_call()
        self.assertFalse(call.on_request("INFO", {"method": "INFO", "cseq": 3}))
        call.session.vars["enable_request_events"] = "true"
        self.assertTrue(call.on_request("INFO", {"method": "INFO", "cseq": 3}))
        call.reply_request(call.session.objects["dlg.request"], 200, "OK")
        self.assertEqual(self.leg.sent[-1], ("reply_request", 3, 200, "OK"))


class MediaGlue(unittest.TestCase):
    def setUp(self):
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        self.hello = os.path.join(base, "hello.wav")
        write_wav(self.hello, tone([400], 60))
        cache = WavCache()
        default = PromptCollection(cache)
        default.add("hello", self.hello)
        self.prompts = PromptSets(default)
        self.prompts.add_set("de", PromptCollection(cache))
        self.media = FakeMediaSession()

    def test_play_prompt_queues_the_prompts_audio(self):
        """playPrompt(hello) puts the decoded prompt on the call's playlist."""
        m = DSMMedia(self.media, self.prompts)
        m.play_prompt("hello", front=True)
        ((name, source, front),) = self.media.calls
        self.assertEqual((name, front), ("play_source", True))
        self.assertIsNotNone(source.read())

    def test_prompt_set_switches_where_prompts_come_from(self):
        """After setPromptSet(de) a prompt only the default set has is unknown."""
        m = DSMMedia(self.media, self.prompts)
        m.set_prompt_set("de")
        self.assertRaises(LookupError, m.play_prompt, "hello")
        self.assertRaises(LookupError, m.set_prompt_set, "fr")

    def test_without_prompts_every_prompt_is_unknown(self):
        """A bundle without load_prompts: playPrompt and setPromptSet raise LookupError."""
        m = DSMMedia(self.media, None)
        self.assertRaises(LookupError, m.play_prompt, "hello")
        self.assertRaises(LookupError, m.set_prompt_set, "de")

    def test_rtp_timeout_uses_dead_rtp_time(self):
        """monitorRTPTimeout(true) watches for sems.conf's dead_rtp_time; 0 turns it off."""
        DSMMedia(self.media, None, dead_rtp_time=7).monitor_rtp_timeout(True)
        DSMMedia(self.media, None, dead_rtp_time=0).monitor_rtp_timeout(True)
        self.assertEqual(
            self.media.calls,
            [("monitor_rtp_timeout", True, 7.0), ("monitor_rtp_timeout", False, 0.0)],
        )

    def test_separator_id_is_a_number_for_the_playlist(self):
        """addSeparator(5) reaches the playlist as the number 5."""
        DSMMedia(self.media).add_separator("5")
        self.assertEqual(self.media.calls, [("add_separator", 5, False)])


class Display(unittest.TestCase):
    def test_quoted_display_name(self):
        """From/To for monitoring carry the display name quoted and no tag, as SEMS shows them."""
        self.assertEqual(quoted_display("bee <sip:5@h>;tag=x"), '"bee" <sip:5@h>')
