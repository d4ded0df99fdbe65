"""Dead calls end (issue 11, finding 7): silent callers, and calls nobody answers.

A real :class:`~donkey.media.session.MediaSession` on a fake network, the
DSM runtime and the media clock on one :class:`twisted.internet.task.Clock`,
a fake SIP leg that records what the call sends.
"""

from __future__ import annotations

import os

from twisted.internet import task
from twisted.trial import unittest

from donkey.app.call import DSMCall
from donkey.config import ConfigError, ServerConfig, load_server_config
from donkey.dsm import callflow
from donkey.dsm.runtime import Runtime
from donkey.media.clock import MediaClock
from donkey.monitoring.store import MonitoringStore
from test.app.fakes import FakeController, FakeLeg
from test.dsm.helpers import write_scripts
from test.media.helpers import FakeCall

TALK = """
initial state A;
transition "start" A - sessionStart -> TALK;
state TALK;
transition "bye" (A, TALK) - hangup / stop(false) -> TALK;
"""

RECORD = """
initial state A;
transition "start" A - sessionStart / recordFile($config.rec_path) -> TALK;
state TALK;
transition "bye" (A, TALK) - hangup / stop(false) -> TALK;
"""

KEEP = """
initial state A;
transition "start" A - sessionStart -> TALK;
state TALK;
transition "timeout" TALK - rtpTimeout / set(#processed=true) -> TALK;
"""

EARLY = """
import(mod_dlg);
initial state A;
transition "invite" A - invite / {
  set($connect_session=0);
  dlg.acceptInvite(183, Session Progress);
} -> A;
transition "early media" A - sessionStart -> WAIT_CALLEE;
state WAIT_CALLEE;
transition "bye" (A, WAIT_CALLEE) - hangup / stop(false) -> WAIT_CALLEE;
"""


class DeadCalls(unittest.TestCase):
    def setUp(self):
        self.time = task.Clock()
        self.store = MonitoringStore(self.time)
        self.runtime = Runtime(self.time, monitoring=self.store)
        self.rec_path = os.path.abspath(self.mktemp()) + ".wav"
        directory = write_scripts(self, talk=TALK, record=RECORD, keep=KEEP, early=EARLY)
        self.bundle = self.runtime.load_bundle(
            "main",
            {
                "diag_path": directory,
                "load_diags": "talk,record,keep,early",
                "run_invite_event": "yes",
                "rec_path": self.rec_path,
            },
        )
        self.clock = MediaClock(self.time)
        self.controller = FakeController(self.runtime, dead_rtp_time=2)
        self.caller = FakeCall(self.clock, 40000)
        self.ours = FakeCall(self.clock, 40002)

    def call(self, app: str, direction: str = "in") -> DSMCall:
        """A call to *app* offered by the fake caller (answered by the script)."""
        offer = self.caller.session.offer() if direction == "in" else None
        self.leg = FakeLeg(direction=direction, remote_sdp=offer)
        call = DSMCall(self.controller, self.leg, self.bundle, app, self.ours.session)
        if direction == "in":
            call.on_invite(self.leg)
        else:
            callflow.start_outbound(call.session, app)
        for sent in self.leg.sent:
            if sent[0] in ("accept", "ring") and sent[3]:
                self.caller.session.apply_answer(sent[3])
                self.caller.session.connect()
        return call

    def run_for(self, seconds: float) -> None:
        """Advance time in 20 ms steps, delivering the packets between the two sides."""
        for _ in range(int(round(seconds / 0.02))):
            self.time.advance(0.02)
            for src, dst in ((self.caller, self.ours), (self.ours, self.caller)):
                for pkt, addr in src.take_sent():
                    if addr == dst.addr:
                        dst.ep.datagramReceived(pkt, src.addr)

    def attributes(self, call: DSMCall) -> dict:
        return self.store.get(call.session.ltag) or {}

    def test_silent_caller_is_hung_up_without_the_script_asking(self):
        """A caller who vanishes without BYE gets a BYE after dead_rtp_time; monitoring says rtp_timeout."""
        call = self.call("talk")
        self.run_for(1.0)
        self.assertFalse(call.session.stopped)
        self.assertGreater(self.ours.session.stats.packets_received, 40)
        self.caller.session.disconnect()  # the caller's phone is gone: no BYE, no RTP
        self.run_for(1.5)
        self.assertFalse(call.session.stopped)  # 1.5 s < dead_rtp_time
        self.run_for(1.0)
        self.assertEqual(self.leg.sent[-1], ("bye", ""))
        self.assertTrue(call.session.ended)
        self.assertTrue(self.ours.session.closed)
        self.assertEqual(self.attributes(call).get("end_reason"), "rtp_timeout")

    def test_recording_of_a_vanished_caller_stops_growing(self):
        """The recording of a caller who vanished is finished after dead_rtp_time and grows no more."""
        call = self.call("record")
        self.run_for(1.0)
        self.caller.session.disconnect()
        self.run_for(3.0)
        self.assertTrue(call.session.ended)
        size = os.path.getsize(self.rec_path)
        self.run_for(10.0)
        self.assertEqual(os.path.getsize(self.rec_path), size)
        self.assertLess(size, 44 + 16000 * 4)  # at most the 1 s talked + the 2 s of silence + slack

    def test_script_that_processes_rtp_timeout_keeps_the_call(self):
        """rtpTimeout with #processed=true keeps the call up and sends no BYE."""
        call = self.call("keep")
        self.run_for(0.5)
        self.caller.session.disconnect()
        self.run_for(3.0)
        self.assertFalse(call.session.stopped)
        self.assertNotIn(("bye", ""), self.leg.sent)
        self.assertNotIn("end_reason", self.attributes(call))

    def test_default_dead_rtp_time_watches_every_call(self):
        """Without dead_rtp_time configured every call is watched for SEMS's 300 s."""
        self.controller.dead_rtp_time = None
        self.call("talk")
        self.assertEqual(self.ours.session.rtp_timeout_seconds, 300.0)

    def test_dead_rtp_time_zero_turns_the_watch_off(self):
        """dead_rtp_time=0: a silent caller is not hung up."""
        self.controller.dead_rtp_time = 0
        call = self.call("talk")
        self.caller.session.disconnect()
        self.run_for(5.0)
        self.assertFalse(call.session.stopped)

    def test_caller_vanishing_in_early_media_is_refused_after_the_limit(self):
        """An inbound call left in early media (WAIT_CALLEE) is refused with 480 after max_early_media_time."""
        self.controller.max_early_media_time = 4.0
        self.controller.dead_rtp_time = 0
        call = self.call("early")
        self.assertEqual(self.leg.sent[0][:2], ("ring", 183))
        self.assertEqual(call.session.engine.state_name, "WAIT_CALLEE")
        self.caller.session.disconnect()
        self.run_for(3.9)
        self.assertFalse(call.session.stopped)
        self.run_for(0.2)
        self.assertEqual(self.leg.sent[-1], ("reply", 480, "Temporarily Unavailable"))
        self.assertTrue(call.session.ended)
        self.assertTrue(self.ours.session.closed)
        self.assertEqual(self.attributes(call).get("end_reason"), "early_media_timeout")

    def test_answered_call_outlives_the_early_media_limit(self):
        """A call answered in time is not touched by max_early_media_time."""
        self.controller.max_early_media_time = 1.0
        call = self.call("talk")
        self.leg.connected = True  # the ACK came
        self.run_for(1.5)
        self.assertFalse(call.session.stopped)
        self.assertEqual([s[0] for s in self.leg.sent], ["accept"])

    def test_outbound_call_ringing_too_long_is_cancelled(self):
        """An outbound call nobody answers is cancelled after max_ringing_time; monitoring says why."""
        self.controller.max_ringing_time = 5.0
        call = self.call("talk", direction="out")
        self.run_for(4.9)
        self.assertEqual(self.leg.sent, [])
        self.run_for(0.2)
        self.assertEqual(self.leg.sent, [("bye", "")])  # the leg sends CANCEL while dialling
        self.assertTrue(call.session.ended)
        self.assertEqual(self.attributes(call).get("end_reason"), "ringing_timeout")


class DeadCallConfig(unittest.TestCase):
    def test_bundled_config_ends_dead_calls(self):
        """The bundled sems.conf watches every call: dead_rtp_time and both set-up limits are not 0."""
        cfg = load_server_config()
        self.assertEqual(cfg.dead_rtp_time, 300.0)
        self.assertGreater(cfg.max_early_media_time, 0)
        self.assertGreater(cfg.max_ringing_time, 0)
        self.assertEqual(cfg.rtp_latching, "address")

    def test_unset_keys_take_the_sems_defaults(self):
        """An empty sems.conf: dead_rtp_time 300 (SEMS's), latching by address."""
        cfg = ServerConfig(path="sems.conf", base_dir=".", values={})
        self.assertEqual(cfg.dead_rtp_time, 300.0)
        self.assertEqual(cfg.rtp_latching, "address")

    def test_bad_values_are_refused(self):
        """A negative or non-numeric time and an unknown latching mode are configuration errors."""
        for key, value in (
            ("dead_rtp_time", "-1"),
            ("dead_rtp_time", "soon"),
            ("max_early_media_time", "nan"),
            ("max_ringing_time", "inf"),
            ("rtp_latching", "always"),
        ):
            cfg = ServerConfig(path="sems.conf", base_dir=".", values={key: value})
            self.assertRaises(ConfigError, getattr, cfg, key)
