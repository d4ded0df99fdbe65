"""B2B call control in the DSM layer: the ``B2B.*`` actions and the other leg's events.

The harness's call stands in for the SIP side: what a script asks of the
B2B handle is recorded, and the test posts what the callee leg does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from twisted.trial import unittest

from donkey.dsm.harness import Harness
from test.dsm.helpers import harness_with

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEMS = os.environ.get("DONKEY_SEMS_MIRROR", "/work/.mirror/sems-server+sems/repo")

CONNECT = """
import(mod_dlg);
initial state START;
transition "start" START - sessionStart / {
  set($b2b_local_party="<sip:cc@donkey>");
  set($b2b_auth_user=alice);
  set($b2b_auth_pwd=secret);
  set($b2b_callid=fixed-callid);
  B2B.addHeader("P-One: 1");
  B2B.setHeaders("P-Two: 2\\r\\nP-Three: 3", true);
  B2B.removeHeader(P-Three);
  B2B.connectCallee("<sip:bob@example.net>", "sip:bob@example.net");
  dlg.getRtpRelayMode($mode);
} -> CONNECTING;
state CONNECTING;
transition "ringing" CONNECTING - B2B.otherReply(#code < 200) / set($ringing=#code) -> CONNECTING;
transition "answered" CONNECTING - B2B.otherReply(#code < 300) / set($answered=#code) -> CONNECTED;
transition "failed" CONNECTING - B2B.otherReply() / {
  set($failed=#code);
  set($failed_reason=#reason);
} -> FAILED;
state FAILED;
state CONNECTED;
transition "other bye" CONNECTED - B2B.otherBye() / {
  set(#processed=true);
  set($bye_hdrs=#hdrs);
  B2B.sendReinvite(true);
  connectMedia();
  playFile($thanks);
} -> THANKS;
transition "relay" CONNECTED - keyPress(5) / {
  set($what=hello);
  B2B.relayEvent(what);
} -> CONNECTED;
transition "from other" CONNECTED - B2Bevent(#what == back) / set($got=#what) -> CONNECTED;
transition "bye" (CONNECTING, CONNECTED) - hangup / {
  B2B.terminateOtherLeg();
  stop(false);
} -> END;
state THANKS;
state END;
"""


class B2BActions(unittest.TestCase):
    def start(self) -> tuple[Harness, Any]:
        h = harness_with(self, connect=CONNECT, conf={"run_invite_event": "no"})
        self.thanks = os.path.abspath(self.mktemp()) + ".wav"
        with open(self.thanks, "wb") as f:
            f.write(b"RIFF")
        call = h.call("connect", variables={"thanks": self.thanks})
        return h, call

    def test_connect_callee_passes_the_b2b_variables_and_headers(self):
        """B2B.connectCallee dials with $b2b_local_party, auth, Call-ID and the edited headers."""
        h, call = self.start()
        self.assertEqual(call.state, "CONNECTING")
        (name, party, uri, opts) = call.record.b2b_calls[0]
        self.assertEqual(
            (name, party, uri), ("connect_callee", "<sip:bob@example.net>", "sip:bob@example.net")
        )
        self.assertEqual(opts["local_party"], "<sip:cc@donkey>")
        self.assertEqual((opts["auth_user"], opts["auth_pwd"]), ("alice", "secret"))
        self.assertEqual(opts["callid"], "fixed-callid")
        self.assertEqual(opts["headers"], "P-One: 1\r\nP-Two: 2\r\n")
        self.assertFalse(opts["relayed_invite"])
        self.assertEqual(call.vars["mode"], "RTP_Direct")
        self.assertEqual(h.errors(), [])

    def test_other_reply_carries_code_and_reason(self):
        """B's 180 keeps the script waiting, its 486 reaches B2B.otherReply with #code and #reason."""
        h, call = self.start()
        call.post("B2B.otherReply", code="180", reason="Ringing", hdrs="")
        self.assertEqual((call.state, call.vars["ringing"]), ("CONNECTING", "180"))
        call.post("B2B.otherReply", code="486", reason="Busy Here", hdrs="")
        self.assertEqual(call.state, "FAILED")
        self.assertEqual((call.vars["failed"], call.vars["failed_reason"]), ("486", "Busy Here"))

    def test_other_bye_processed_reconnects_the_caller(self):
        """A handled B2B.otherBye re-INVITEs the caller with donkey's SDP and plays a file."""
        h, call = self.start()
        call.post("B2B.otherReply", code="200", reason="OK", hdrs="")
        self.assertEqual(call.state, "CONNECTED")
        call.post("B2B.otherBye", hdrs="X-Why: done\r\n")
        self.assertEqual(call.state, "THANKS")
        self.assertEqual(call.vars["bye_hdrs"], "X-Why: done\r\n")
        self.assertIn(("send_reinvite", True, ""), call.record.b2b_calls)
        self.assertIn(self.thanks, call.record.played)

    def test_relay_event_and_b2b_event(self):
        """B2B.relayEvent hands the named variables to the other leg; a B2Bevent is matched by #params."""
        h, call = self.start()
        call.post("B2B.otherReply", code="200", reason="OK", hdrs="")
        call.key(5)
        self.assertIn(("relay_event", {"what": "hello"}), call.record.b2b_calls)
        call.post("B2Bevent", what="back")
        self.assertEqual(call.vars["got"], "back")

    def test_hangup_while_connecting_terminates_the_other_leg(self):
        """The caller's BYE while B rings: B2B.terminateOtherLeg, the session ends."""
        h, call = self.start()
        call.hangup()
        self.assertIn(("terminate_other_leg",), call.record.b2b_calls)
        self.assertTrue(call.ended)

    def test_b2b_in_a_system_dsm_is_the_script_exception(self):
        """B2B.connectCallee where there is no call throws SEMS's 'script' exception."""
        h = harness_with(
            self,
            sys_b2b="""
            initial state START;
            transition "go" START - startup / B2B.connectCallee(a, sip:a@b) -> END;
            transition "err" START - exception / set($exc=#type) -> END;
            state END;
            """,
        )
        s = h.system("sys_b2b")
        self.assertEqual(s.vars.get("exc"), "script")

    def test_set_prompts_is_set_prompt_set(self):
        """setPrompts (the name SEMS's code registers) is setPromptSet: an unknown set is 'prompt'."""
        h = harness_with(
            self,
            sp="""
            initial state START;
            transition "go" START - sessionStart / setPrompts(de) -> END;
            transition "err" START - exception / {
              set($exc=#type);
              set($exc_name=#name);
            } -> END;
            state END;
            """,
        )
        call = h.call("sp")
        self.assertEqual((call.vars.get("exc"), call.vars.get("exc_name")), ("prompt", "de"))


class ReplyBodyParts(unittest.TestCase):
    SCRIPT = """
    import(mod_dlg);
    initial state START;
    transition "go" START - sessionStart / set($enable_reply_events=true) -> WAIT;
    state WAIT;
    transition "reply" WAIT - sipReply / {
      dlg.addReplyBodyPart(text/plain, hello);
      dlg.getReplyBody(text/plain, $plain);
      dlg.getReplyBody(application/sdp, $sdp);
      dlg.deleteReplyBodyPart(application/sdp);
      dlg.getReplyBody(application/sdp, $sdp_after);
    } -> END;
    transition "no reply" WAIT - key / dlg.addReplyBodyPart(text/plain, x) -> WAIT;
    transition "err" WAIT - exception / set($exc=#type) -> END;
    state END;
    """

    def test_add_and_delete_reply_body_parts(self):
        """In sipReply a body part is added next to the SDP, then the SDP part is deleted."""
        h = harness_with(self, parts=self.SCRIPT)
        call = h.call("parts")
        call.session.objects["dlg.reply"] = {"content_type": "application/sdp", "body": "v=0"}
        call.post("sipReply", code="200")
        self.assertEqual(call.vars["plain"], "hello")
        self.assertEqual(call.vars["sdp"], "v=0")
        self.assertNotIn("sdp_after", call.vars)

    def test_outside_a_reply_is_the_dlg_exception(self):
        """dlg.addReplyBodyPart with no reply in hand throws 'dlg'."""
        h = harness_with(self, parts=self.SCRIPT)
        call = h.call("parts")
        call.key(1)
        self.assertEqual(call.vars.get("exc"), "dlg")


class SemsExamples(unittest.TestCase):
    EXAMPLES = (
        "doc/dsm/examples/test_b2b.dsm",
        "doc/dsm/examples/b2b_connect_extension/connect_extension.dsm",
    )

    def test_sems_b2b_examples_compile(self):
        """SEMS's B2B example scripts load with donkeysm-check (needs a SEMS checkout)."""
        if not os.path.isdir(SEMS):
            raise unittest.SkipTest(f"no SEMS checkout at {SEMS} (DONKEY_SEMS_MIRROR)")
        out = self.mktemp()
        os.makedirs(out)
        paths = []
        for rel in self.EXAMPLES:
            text = subprocess.run(
                ["git", "-C", SEMS, "show", f"HEAD:{rel}"], capture_output=True, text=True
            )
            if text.returncode != 0:
                raise unittest.SkipTest(f"{rel} not in the SEMS checkout")
            path = os.path.join(out, os.path.basename(rel))
            with open(path, "w") as f:
                f.write(text.stdout)
            paths.append(path)
        env = dict(os.environ, PYTHONPATH=ROOT)
        for path in paths:
            result = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from donkey.dsm.cli import check_main; sys.exit(check_main())",
                    path,
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
