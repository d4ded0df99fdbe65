"""The calling-card demo's script on the harness: every path of its story.

The bundle is ``conf/dsm/callingcard.conf`` as shipped (PINs 1234 and 4711,
60 s per call with the warning 10 s before the end).  The harness's B2B
handle records what the script asks of the SIP side; the test posts what
the callee leg does (``B2B.otherReply``, ``B2B.otherBye``) and ``noAudio``
when a prompt has been played out.
"""

from __future__ import annotations

import os

from twisted.trial import unittest

from donkey.config import read_config
from donkey.dsm.harness import Harness, HarnessSession

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(ROOT, "conf", "dsm", "callingcard.conf")
PROMPTS = os.path.join(ROOT, "conf", "dsm", "callingcard", "prompts")


def prompt(name: str) -> str:
    return os.path.normpath(os.path.join(PROMPTS, name + ".wav"))


class CallingCardTests(unittest.TestCase):
    def setUp(self) -> None:
        self.harness = Harness()
        conf = read_config(BUNDLE, os.path.abspath(self.mktemp()))
        self.harness.load("callingcard", conf, base_dir=os.path.dirname(BUNDLE))

    def call(self) -> HarnessSession:
        return self.harness.call("callingcard", "callingcard", user="5")

    def played(self, call: HarnessSession) -> list[str]:
        return [os.path.normpath(p) for p in call.record.played]

    def keys(self, call: HarnessSession, digits: str) -> None:
        for d in digits:
            call.key(11 if d == "#" else 10 if d == "*" else int(d))

    def connected(self, number: str = "42") -> HarnessSession:
        """A call with a valid PIN and ``number`` dialled, answered by the callee."""
        call = self.call()
        self.keys(call, "4711#" + number + "#")
        call.post("B2B.otherReply", code="180", reason="Ringing", hdrs="")
        call.post("B2B.otherReply", code="200", reason="OK", hdrs="")
        self.assertEqual(call.state, "CONNECTED")
        return call

    def test_pin_then_number_connects_the_callee(self):
        """The caller hears the PIN prompt, then 'enter the number'; the dialled number is called in B2B mode."""
        call = self.call()
        self.assertEqual(self.played(call), [prompt("enter_pin")])
        self.keys(call, "1234#")
        self.assertEqual(call.state, "ENTER_NUMBER")
        self.assertEqual(self.played(call), [prompt("enter_pin"), prompt("enter_number")])
        self.keys(call, "0815#")
        self.assertEqual(call.state, "CONNECTING")
        (name, party, uri, opts) = call.record.b2b_calls[0]
        self.assertEqual(
            (name, party, uri),
            ("connect_callee", "<sip:0815@127.0.0.1:5080>", "sip:0815@127.0.0.1:5080"),
        )
        self.assertFalse(opts["relayed_invite"])
        call.post("B2B.otherReply", code="180", reason="Ringing", hdrs="")
        self.assertEqual(call.state, "CONNECTING")
        call.post("B2B.otherReply", code="200", reason="OK", hdrs="")
        self.assertEqual(call.state, "CONNECTED")
        self.assertEqual(self.harness.errors(), [])

    def test_hash_without_a_number_waits_for_digits(self):
        """A '#' before any digit of the number dials nothing; the caller can still key it."""
        call = self.call()
        self.keys(call, "1234##")
        self.assertEqual((call.state, call.record.b2b_calls), ("ENTER_NUMBER", []))
        self.keys(call, "7#")
        self.assertEqual(call.record.b2b_calls[0][2], "sip:7@127.0.0.1:5080")

    def test_wrong_pin_plays_sorry_and_asks_again(self):
        """A wrong PIN: 'sorry', the PIN prompt again, and the right PIN then works."""
        call = self.call()
        self.keys(call, "99#")
        self.assertEqual(call.state, "ENTER_PIN")
        self.assertEqual(
            self.played(call), [prompt("enter_pin"), prompt("sorry_pin_wrong"), prompt("enter_pin")]
        )
        self.keys(call, "12345#")  # a valid PIN with one digit too many is wrong too
        self.assertEqual(call.state, "ENTER_PIN")
        self.keys(call, "1234#")
        self.assertEqual(call.state, "ENTER_NUMBER")

    def test_three_wrong_pins_hang_up(self):
        """After the third wrong PIN the caller hears 'goodbye' and is hung up on."""
        call = self.call()
        self.keys(call, "1#2#")
        self.assertEqual(call.state, "ENTER_PIN")
        self.keys(call, "#")
        self.assertEqual(call.state, "GOODBYE")
        self.assertEqual(self.played(call)[-1], prompt("goodbye"))
        self.assertEqual(self.played(call).count(prompt("sorry_pin_wrong")), 2)
        call.post("noAudio")
        self.assertTrue(call.ended)
        self.assertEqual(call.record.byes, 1)
        self.assertEqual(call.record.b2b_calls, [])

    def test_time_limit_warns_then_ends_the_call(self):
        """50 s after the answer the caller is taken back to donkey's media for the warning; at 60 s both legs end."""
        call = self.connected()
        self.harness.advance(49)
        self.assertEqual(call.state, "CONNECTED")
        self.harness.advance(1)
        self.assertEqual(call.state, "WARNED")
        self.assertIn(("send_reinvite", True, ""), call.record.b2b_calls)
        self.assertIn(("connect",), call.record.media_calls)
        self.assertEqual(self.played(call)[-1], prompt("warning"))
        self.harness.advance(9)
        self.assertFalse(call.ended)
        self.harness.advance(1)
        self.assertTrue(call.ended)
        self.assertEqual(call.record.b2b_calls[-1], ("terminate_other_leg",))
        self.assertEqual(call.record.byes, 1)

    def test_callee_bye_reconnects_the_caller_for_thanks(self):
        """The callee hangs up: the caller is back on donkey's media, hears 'thank you for calling', then BYE."""
        call = self.connected()
        call.post("B2B.otherBye", hdrs="")
        self.assertEqual(call.state, "GOODBYE")
        self.assertIn(("send_reinvite", True, ""), call.record.b2b_calls)
        self.assertIn(("connect",), call.record.media_calls)
        self.assertEqual(self.played(call)[-1], prompt("thanks"))
        self.assertFalse(call.ended)
        self.harness.advance(120)  # the time-limit timers are gone
        self.assertEqual(call.state, "GOODBYE")
        call.post("noAudio")
        self.assertTrue(call.ended)
        self.assertEqual(call.record.byes, 1)

    def test_callee_bye_after_the_warning_plays_thanks(self):
        """The callee hangs up after the warning: the warning stops, 'thank you for calling' plays, no second re-INVITE."""
        call = self.connected()
        self.harness.advance(50)
        self.assertEqual(call.state, "WARNED")
        call.post("B2B.otherBye", hdrs="")
        self.assertEqual(call.state, "GOODBYE")
        self.assertEqual(call.record.b2b_calls.count(("send_reinvite", True, "")), 1)
        self.assertEqual(self.played(call)[-1], prompt("thanks"))
        self.harness.advance(20)
        self.assertFalse(call.ended)
        call.post("noAudio")
        self.assertTrue(call.ended)

    def test_callee_busy_plays_unavailable(self):
        """The dialled number answers 486: the caller hears 'cannot be reached' and is hung up on."""
        call = self.call()
        self.keys(call, "1234#42#")
        call.post("B2B.otherReply", code="486", reason="Busy Here", hdrs="")
        self.assertEqual((call.state, call.vars["failed_code"]), ("GOODBYE", "486"))
        self.assertEqual(self.played(call)[-1], prompt("unavailable"))
        call.post("noAudio")
        self.assertTrue(call.ended)

    def test_caller_hangup_while_bridged_ends_the_callee(self):
        """The caller hangs up during the call: the other leg is terminated, no BYE back to the caller."""
        call = self.connected()
        call.hangup()
        self.assertTrue(call.ended)
        self.assertEqual(call.record.b2b_calls[-1], ("terminate_other_leg",))
        self.assertEqual(call.record.byes, 0)
        self.harness.advance(120)
        self.assertEqual(self.harness.errors(), [])

    def test_prompts_are_8khz_mono_16bit(self):
        """Every prompt the script names exists as an 8 kHz mono 16-bit WAV."""
        import wave

        with open(os.path.join(ROOT, "conf", "dsm", "callingcard", "callingcard.dsm")) as f:
            script = f.read()
        names = sorted(set(n for n in os.listdir(PROMPTS) if n.endswith(".wav")))
        for name in names:
            self.assertIn(name, script)
            with wave.open(os.path.join(PROMPTS, name)) as w:
                self.assertEqual(
                    (w.getframerate(), w.getnchannels(), w.getsampwidth()), (8000, 1, 2), name
                )
        self.assertEqual(len(names), 7)


class BannerTests(unittest.TestCase):
    def test_banner_shows_the_calling_card_sipp_lines(self):
        """With the callingcard app loaded the start-up banner prints its two ready sipp lines."""
        from donkey.app.server import banner_lines

        lines = banner_lines(
            "127.0.0.1:5060", "127.0.0.1", 8090, ["callingcard"], "", "127.0.0.1:5090"
        )
        self.assertEqual(
            lines[1:3],
            [
                "  calling card: answer with  sipp -sf conf/sipp/callingcard_callee.xml "
                "-i 127.0.0.1 -mi 127.0.0.1 -p 5090",
                "               then dial 36:  sipp -sf conf/sipp/callingcard_caller.xml -s 36 "
                "127.0.0.1:5060 -i 127.0.0.1 -p 5070 -m 1 -mp 6100",
            ],
        )
