"""CallLeg on task.Clock: a SipStack on a fake reactor against an in-memory peer."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.trial import unittest

from donkey.sip import sippy_process
from donkey.sip.in_dialog import GUARD_SECONDS
from donkey.sip.session_timer import SessionTimerConfig
from donkey.sip.stack import SipStack
from test.sip.helpers import SDP as OUR_SDP
from test.sip.helpers import Recorder
from test.sip.sip_peer import SDP, FakeSipReactor, SipPeer

TIMER_HEADERS = "Supported: timer\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE, INFO\r\n"


class _LegTest(unittest.TestCase):
    st_cfg: SessionTimerConfig | None = None

    def setUp(self) -> None:
        self.clock = FakeSipReactor()
        self.apps: list[Recorder] = []
        self.behaviour = lambda leg: leg.accept(sdp=OUR_SDP)
        self.stack = SipStack(
            self._factory, "127.0.0.1", 0, session_timer=self.st_cfg, reactor=self.clock
        )
        self.stack.startService()
        self.addCleanup(sippy_process.install, reactor)
        self.addCleanup(self.stack.stopService)
        self.peer = SipPeer(self.clock, self.stack.port)

    def _factory(self, leg):
        app = Recorder(on_invite=lambda leg: self.behaviour(leg))
        self.apps.append(app)
        return app

    @property
    def app(self) -> Recorder:
        return self.apps[0]

    def connect(self, headers: str = "") -> None:
        """INVITE, our 200, the peer's ACK."""
        self.peer.request("INVITE", SDP, headers)
        ok = self.peer.last_final("INVITE")
        self.assertEqual(ok.code, 200)
        self.peer.request("ACK", cseq=1)
        self.assertIn("on_connected", self.app.names())


class AnswerTests(_LegTest):
    def test_accept_then_peer_hangs_up(self):
        """The caller gets 200 with our SDP, the script hears connect then hangup."""
        self.connect()
        ok = self.peer.last_final("INVITE")
        self.assertIn("o=donkey 1000 1000", ok.body)
        self.assertEqual(self.app.leg.remote_sdp, SDP)
        self.peer.request("BYE")
        self.assertEqual(self.peer.last_final("BYE").code, 200)
        self.assertEqual(self.app.names()[:3], ["on_invite", "on_connected", "on_hangup"])
        self.assertEqual(self.stack.current_calls, 0)

    def test_ring_then_accept(self):
        """The caller sees 180 Ringing before the 200 when the app rings first."""
        self.behaviour = lambda leg: leg.ring(180, "Ringing")
        self.peer.request("INVITE", SDP)
        codes = [m.code for m in self.peer.new() if m.code is not None]
        self.assertIn(180, codes)
        self.assertNotIn(200, codes)
        self.app.leg.accept(sdp=OUR_SDP)
        self.assertEqual(self.peer.last_final("INVITE").code, 200)

    def test_reply_404(self):
        """A rejected caller gets the app's 404 and the call no longer counts."""
        self.behaviour = lambda leg: leg.reply(404, "Not Found")
        self.peer.request("INVITE", SDP)
        self.assertEqual(self.peer.last_final("INVITE").code, 404)
        self.assertTrue(self.app.leg.ended)
        self.assertEqual(self.stack.current_calls, 0)

    def test_no_listener_gets_500(self):
        """A call no app takes is refused with 500."""
        self.stack.call_factory = lambda leg: None
        self.peer.request("INVITE", SDP)
        self.assertEqual(self.peer.last_final("INVITE").code, 500)

    def test_app_bye(self):
        """After the app hangs up, the peer receives a BYE and the leg is ended."""
        self.connect()
        self.app.leg.bye()
        byes = self.peer.requests("BYE")
        self.assertEqual(len(byes), 1)
        self.assertTrue(self.app.leg.ended)
        self.peer.reply(byes[0], 200, "OK")
        self.assertNotIn("on_hangup", self.app.names())

    def test_cancel_before_answer(self):
        """A CANCEL before the answer gives the caller 487 and the app a hangup."""
        self.behaviour = lambda leg: leg.ring(180, "Ringing")
        self.peer.request("INVITE", SDP)
        self.peer.request("CANCEL", cseq=1)
        self.assertEqual(self.peer.last_final("INVITE").code, 487)
        self.assertEqual(self.app.get("on_hangup"), ("", True))

    def test_cancel_after_183_keeps_the_early_dialog_tag(self):
        """After a 183, the CANCEL's 487 carries the same To-tag as the 183 (RFC 3261 12.1)."""
        self.behaviour = lambda leg: leg.ring(183, "Session Progress", OUR_SDP)
        self.peer.request("INVITE", SDP)
        (p183,) = [m for m in self.peer.new() if m.code == 183]
        self.peer.request("CANCEL", cseq=1)
        r487 = self.peer.last_final("INVITE")
        self.assertEqual(r487.code, 487)
        tag = p183["To"].partition(";tag=")[2]
        self.assertTrue(tag)
        self.assertEqual(r487["To"].partition(";tag=")[2], tag)
        self.assertEqual(tag, self.app.leg.local_tag)

    def test_contact_names_the_called_user(self):
        """Our 200's Contact is <sip:called-user@our-address:port>, not 'Anonymous <sip:host>'."""
        self.connect()
        contact = self.peer.last_final("INVITE")["Contact"]
        self.assertEqual(contact, "<sip:service@127.0.0.1:%d>" % self.stack.port)

    def test_2xx_to_invite_carries_allow_and_supported(self):
        """The 200 to an INVITE names the methods we answer and our extensions."""
        self.connect()
        ok = self.peer.last_final("INVITE")
        allow = [m.strip() for m in ok["Allow"].split(",")]
        for method in ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "REFER"):
            self.assertIn(method, allow)
        self.assertNotIn("PRACK", allow)
        self.assertIn("Supported", ok.text)

    def test_options_replies_carry_allow_and_supported(self):
        """OPTIONS, out of a dialog and inside one, is answered 200 with Allow and Supported."""
        self.connect()
        self.peer.request("OPTIONS")
        reply = self.peer.last_final("OPTIONS")
        self.assertEqual(reply.code, 200)
        self.assertIn("REFER", reply["Allow"])
        self.assertIn("Supported:", reply.text)
        self.peer.call_id, self.peer.to_tag = "other-call@127.0.0.1", ""
        self.peer.request("OPTIONS")
        reply = self.peer.last_final("OPTIONS")
        self.assertEqual(reply.code, 200)
        self.assertIn("MESSAGE", reply["Allow"])
        self.assertIn("Supported:", reply.text)

    def test_reinvite_without_answer_is_refused(self):
        """A re-INVITE the app does not answer gets 488; the leg makes up no SDP."""
        self.connect()
        self.app.on_reinvite = lambda sdp: None
        self.peer.request("INVITE", SDP.replace("a=sendrecv", "a=sendonly"))
        self.assertEqual(self.peer.last_final("INVITE").code, 488)

    def test_reinvite_answered_by_app(self):
        """The peer's hold re-INVITE is answered with the SDP the app returns."""
        self.connect()
        self.app.reinvite_answer = OUR_SDP.replace("a=sendrecv", "a=recvonly")
        self.peer.request("INVITE", SDP.replace("a=sendrecv", "a=sendonly"))
        ok = self.peer.last_final("INVITE")
        self.assertEqual(ok.code, 200)
        self.assertIn("a=recvonly", ok.body)


class InDialogTests(_LegTest):
    def test_info_dtmf(self):
        """An INFO with dtmf-relay is answered 200 and reported as key #."""
        self.connect()
        self.peer.request(
            "INFO",
            "Signal=#\r\nDuration=160\r\n",
            "Content-Type: application/dtmf-relay\r\n",
        )
        self.assertEqual(self.peer.last_final("INFO").code, 200)
        self.assertEqual(self.app.get("on_info_dtmf"), (11, 160))

    def test_untaken_request_gets_default_reply(self):
        """A NOTIFY the app does not take is answered 200 right away."""
        self.connect()
        self.peer.request("NOTIFY", headers="Event: talk\r\n")
        self.assertEqual(self.peer.last_final("NOTIFY").code, 200)

    def test_taken_request_answered_by_app(self):
        """A request the app takes is answered with the app's reply, once."""
        self.connect()
        self.app.take_requests = True
        self.peer.request("MESSAGE", "hi", "Content-Type: text/plain\r\n")
        self.assertIsNone(self.peer.last_final("MESSAGE"))
        _method, info = self.app.get("on_request")
        self.assertTrue(self.app.leg.reply_request(info["cseq"], 202, "Accepted"))
        self.assertEqual(self.peer.last_final("MESSAGE").code, 202)
        self.assertFalse(self.app.leg.reply_request(info["cseq"], 200, "OK"))

    def test_unanswered_request_guard(self):
        """A request the app takes but never answers gets 500 after the guard time."""
        self.connect()
        self.app.take_requests = True
        self.peer.request("INFO", "x", "Content-Type: text/plain\r\n")
        self.clock.advance(GUARD_SECONDS - 1)
        self.assertIsNone(self.peer.last_final("INFO"))
        self.clock.advance(2)
        self.assertEqual(self.peer.last_final("INFO").code, 500)

    def test_app_request_reply_and_481(self):
        """The app's INFO reply reaches the script; a 481 ends the call as disappeared."""
        self.connect()
        self.app.leg.send_request("INFO", "X-A: 1\r\n", "hello", "text/plain")
        (info,) = self.peer.requests("INFO")
        self.assertEqual(info.get("x-a"), "1")
        self.peer.reply(info, 481, "Call Leg/Transaction Does Not Exist")
        code, _reason, _info = self.app.get("on_reply")
        self.assertEqual(code, 481)
        self.assertEqual(
            self.app.get("on_remote_disappeared"), (481, "Call Leg/Transaction Does Not Exist")
        )
        self.assertTrue(self.app.leg.ended)


class SessionTimerTests(_LegTest):
    st_cfg = SessionTimerConfig(enabled=True, session_expires=1800, min_se=90)

    def test_too_small_interval_gets_422(self):
        """A caller asking for 30 s is told 422 with our Min-SE."""
        self.peer.request("INVITE", SDP, "Session-Expires: 30\r\n" + TIMER_HEADERS)
        resp = self.peer.last_final("INVITE")
        self.assertEqual(resp.code, 422)
        self.assertEqual(resp["min-se"], "90")
        self.assertEqual(self.apps, [])

    def test_2xx_names_timer_once(self):
        """With session timers on, the 200 says Supported: timer once, next to Allow."""
        self.connect(TIMER_HEADERS + "Session-Expires: 1800\r\n")
        ok = self.peer.last_final("INVITE")
        self.assertEqual(ok.text.count("Supported: timer"), 1)
        self.assertIn("UPDATE", ok["Allow"])

    def test_we_refresh_with_update(self):
        """When the caller makes us refresher, it gets an UPDATE every half interval."""
        self.connect("Session-Expires: 120;refresher=uas\r\n" + TIMER_HEADERS)
        self.assertEqual(self.peer.last_final("INVITE")["session-expires"], "120;refresher=uas")
        self.clock.advance(59)
        self.assertEqual(self.peer.requests("UPDATE"), [])
        self.clock.advance(2)
        (update,) = self.peer.requests("UPDATE")
        self.assertIn("refresher=uac", update["session-expires"])
        self.peer.reply(update, 200, "OK", "Session-Expires: 120;refresher=uac\r\n")
        self.clock.advance(61)
        self.assertEqual(len(self.peer.requests("UPDATE")), 2)
        self.assertNotIn("on_session_timeout", self.app.names())

    def test_refresh_with_reinvite_uses_listener_offer(self):
        """Without UPDATE in Allow, the refresh is a re-INVITE carrying the app's offer."""
        self.app_offer = OUR_SDP.replace("1000 1000", "1000 1001")
        self.connect("Session-Expires: 120;refresher=uas\r\nSupported: timer\r\n")
        self.app.on_refresh_offer = lambda sdp: self.app_offer
        self.clock.advance(61)
        (reinvite,) = self.peer.requests("INVITE")
        self.assertIn("o=donkey 1000 1001", reinvite.body)
        self.assertEqual(self.app.leg.local_sdp, self.app_offer)

    def test_peer_stops_refreshing(self):
        """When the caller refreshes and then stops, the script hears a timeout and BYE goes out."""
        self.connect("Session-Expires: 90;refresher=uac\r\n" + TIMER_HEADERS)
        # the refresher is the caller: we give up 30 s (SE/3) before expiry
        self.clock.advance(50)
        self.peer.request("UPDATE", headers="Session-Expires: 90;refresher=uac\r\n" + TIMER_HEADERS)
        self.assertEqual(self.peer.last_final("UPDATE").code, 200)
        self.clock.advance(50)
        self.assertNotIn("on_session_timeout", self.app.names())
        self.assertEqual(self.peer.requests("BYE"), [])
        self.clock.advance(11)
        self.assertIn("on_session_timeout", self.app.names())
        self.assertEqual(len(self.peer.requests("BYE")), 1)

    def test_bye_stops_the_timer(self):
        """After the caller hangs up no refresh is ever sent."""
        self.connect("Session-Expires: 120;refresher=uas\r\n" + TIMER_HEADERS)
        self.peer.request("BYE")
        self.clock.advance(200)
        self.assertEqual(self.peer.requests("UPDATE"), [])
        self.assertFalse(self.app.leg.timer.running)
