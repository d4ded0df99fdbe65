"""End-to-end: a SipStack on 127.0.0.1 against real sipp processes."""

import socket

from twisted.internet import defer, reactor
from twisted.trial import unittest

from donkey.sip import sippy_process
from donkey.sip.leg import CallLeg
from donkey.sip.session_timer import SessionTimerConfig
from donkey.sip.stack import SipStack, StackLimits
from test.sip.helpers import SDP, Recorder, free_udp_port, sipp_uac, sipp_uas, with_timeout

WAIT = 15


class _StackTest(unittest.TestCase):
    timeout = 40
    limits = None
    st_cfg = None

    def setUp(self):
        sippy_process.install(reactor)
        self.apps = []
        self.behaviour = lambda leg: leg.accept(sdp=SDP)
        self.stack = SipStack(
            self._factory, "127.0.0.1", 0, limits=self.limits, session_timer=self.st_cfg
        )
        self.stack.startService()
        self.addCleanup(self.stack.stopService)

    def _factory(self, leg):
        app = Recorder(on_invite=lambda leg: self.behaviour(leg))
        self.apps.append(app)
        return app

    @defer.inlineCallbacks
    def run_uac(self, scen, calls=1, expect_rc=0, extra=None):
        s = sipp_uac(self, scen, self.stack.port, calls=calls, extra=extra)
        rc, out, err = yield with_timeout(s.result(), WAIT + 10)
        if rc != expect_rc:
            self.fail("sipp %s rc=%s\n%s\n%s" % (scen, rc, out[-3000:], err[-3000:]))
        defer.returnValue((rc, out, err))


class InboundTests(_StackTest):
    @defer.inlineCallbacks
    def test_answer_then_bye_from_caller(self):
        """A caller's INVITE is answered, its leg shows URI, headers, SDP and tags, and its BYE with X-Bye-Reason hangs up."""
        yield self.run_uac("uac_answer_bye.xml")
        app = self.apps[0]
        self.assertEqual(app.names()[:3], ["on_invite", "on_connected", "on_hangup"])
        leg = app.leg
        self.assertEqual(leg.direction, "in")
        self.assertEqual(leg.user, "service")
        self.assertEqual(leg.domain, "127.0.0.1")
        self.assertTrue(leg.ruri.startswith("sip:service@127.0.0.1:"))
        self.assertIn("sipp", leg.from_hdr)
        self.assertEqual(leg.request_headers["x-app"], "test")
        self.assertIn("m=audio", leg.remote_sdp)
        self.assertTrue(leg.callid)
        self.assertTrue(leg.remote_tag.endswith("SIPpTag001"))
        self.assertTrue(leg.local_tag)
        headers, by_cancel = app.get("on_hangup")
        self.assertFalse(by_cancel)
        self.assertIn("X-Bye-Reason: done", headers)
        self.assertEqual(self.stack.current_calls, 0)
        self.assertEqual(self.stack.stats().total_calls, 1)

    @defer.inlineCallbacks
    def test_early_media_then_answer(self):
        """A 183 with SDP reaches the caller before the 200, and the call then connects and hangs up."""

        def behaviour(leg):
            leg.ring(183, "Session Progress", sdp=SDP)
            reactor.callLater(0.2, leg.accept, sdp=SDP)

        self.behaviour = behaviour
        yield self.run_uac("uac_early_media.xml")
        self.assertEqual(self.apps[0].names()[:3], ["on_invite", "on_connected", "on_hangup"])

    @defer.inlineCallbacks
    def test_cancel(self):
        """A caller's CANCEL while ringing gets 200 and 487, and the application sees a hangup by CANCEL with its Reason."""
        self.behaviour = lambda leg: leg.ring(180, "Ringing")
        yield self.run_uac("uac_cancel.xml")
        app = self.apps[0]
        headers, by_cancel = app.get("on_hangup")
        self.assertTrue(by_cancel)
        self.assertIn("Reason:", headers)
        self.assertNotIn("on_connected", app.names())
        self.assertEqual(self.stack.current_calls, 0)

    @defer.inlineCallbacks
    def test_reject_404(self):
        """An INVITE the application rejects gets 404 and leaves no call behind."""
        self.behaviour = lambda leg: leg.reply(404, "Not Found")
        yield self.run_uac("uac_expect_404.xml")
        self.assertEqual(self.stack.current_calls, 0)

    @defer.inlineCallbacks
    def test_reject_500_later(self):
        """A reply sent later, from a timer, still reaches the caller as 500."""
        self.behaviour = lambda leg: reactor.callLater(0.1, leg.reply, 500, "Server Internal Error")
        yield self.run_uac("uac_expect_500.xml")

    @defer.inlineCallbacks
    def test_hold_resume_and_info_dtmf(self):
        """Hold (sendonly) and resume re-INVITEs are answered recvonly and sendrecv, and INFO DTMF 5 arrives."""
        yield self.run_uac("uac_hold_resume.xml")
        app = self.apps[0]
        reinvites = [a for n, a in app.events if n == "on_reinvite"]
        self.assertEqual(len(reinvites), 2)
        self.assertIn("a=sendonly", reinvites[0][0])
        self.assertEqual(app.get("on_info_dtmf"), (5, 160))
        self.assertEqual(app.names()[-1], "on_hangup")

    @defer.inlineCallbacks
    def test_garbage_does_not_crash(self):
        """Junk datagrams do not stop the stack: the next real call is answered and hung up."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        junk = [
            b"\x00\xff" * 40,
            b"hello there, this is not SIP at all, not even close",
            b"INVITE sip:x@y SIP/2.0\r\nVia: broken\r\n\r\n" + b"x" * 40,
            b"SIP/2.0 999999 Whatever\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n" + b"y" * 20,
            "INVITE sip:\u00e9@h SIP/2.0\r\n".encode("latin-1") + b"\xe9" * 40,
            b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: nope\r\nCSeq: x BYE\r\n\r\n",
        ]
        for j in junk:
            s.sendto(j, ("127.0.0.1", self.stack.port))
        s.close()
        yield self.run_uac("uac_answer_bye.xml")
        self.flushLoggedErrors()
        self.assertEqual(self.apps[0].names()[:3], ["on_invite", "on_connected", "on_hangup"])


class LimitTests(_StackTest):
    limits = StackLimits(max_sessions=1)

    @defer.inlineCallbacks
    def test_503_past_session_limit(self):
        # occupy the only session slot with an outbound call nobody answers
        """Past max_sessions a caller gets 503 and no application is started."""
        dead_port = free_udp_port()
        rec = Recorder()
        leg = CallLeg.dial(
            self.stack,
            "sip:a@127.0.0.1",
            "sip:b@127.0.0.1",
            "sip:b@127.0.0.1:%d" % dead_port,
            SDP,
            listener=rec,
        )
        self.assertEqual(self.stack.current_calls, 1)
        yield self.run_uac("uac_expect_503.xml")
        self.assertEqual(self.apps, [])
        self.assertEqual(self.stack.stats().rejected_calls, 1)
        leg.bye()

    @defer.inlineCallbacks
    def test_503_in_shutdown_mode(self):
        """In shutdown mode every new INVITE gets 503."""
        self.stack.set_shutdown_mode(True)
        yield self.run_uac("uac_expect_503.xml")
        self.assertEqual(self.apps, [])


class OutboundTests(_StackTest):
    @defer.inlineCallbacks
    def test_dial_out_then_bye(self):
        """An outbound call rings, connects with the callee's SDP and ends with our BYE."""
        port = free_udp_port()
        uas = sipp_uas(self, port)
        yield uas.bound()
        rec = Recorder()
        leg = CallLeg.dial(
            self.stack,
            '"Donkey" <sip:donkey@example.org>',
            "sip:bob@example.net",
            "sip:bob@127.0.0.1:%d" % port,
            SDP,
            listener=rec,
            headers="X-Test: 1",
        )
        self.assertEqual(leg.direction, "out")
        sdp = yield with_timeout(rec.when("on_connected"), WAIT)
        self.assertIn("m=audio", sdp[0])
        self.assertIn("on_ringing", rec.names())
        self.assertEqual(leg.user, "donkey")
        self.assertEqual(leg.domain, "example.org")
        self.assertTrue(leg.remote_tag)
        self.assertEqual(leg.ruri, "sip:bob@127.0.0.1:%d" % port)
        leg.bye()
        rc, out, err = yield with_timeout(uas.result(), WAIT)
        self.assertEqual(rc, 0, out[-2000:])
        self.assertNotIn("on_hangup", rec.names())

    @defer.inlineCallbacks
    def test_dial_out_digest_auth(self):
        """An outbound call challenged with 401 retries with the digest credentials and connects."""
        port = free_udp_port()
        uas = sipp_uas(self, port, "uas_auth.xml")
        yield uas.bound()
        rec = Recorder()
        leg = CallLeg.dial(
            self.stack,
            "sip:alice@127.0.0.1",
            "sip:bob@127.0.0.1",
            "sip:bob@127.0.0.1:%d" % port,
            SDP,
            listener=rec,
            auth_user="alice",
            auth_pwd="secret",
        )
        yield with_timeout(rec.when("on_connected"), WAIT)
        leg.bye()
        rc, out, err = yield with_timeout(uas.result(), WAIT)
        self.assertEqual(rc, 0, out[-2000:])
        self.assertNotIn("on_failed", rec.names())

    @defer.inlineCallbacks
    def test_dial_out_failure(self):
        """An outbound call challenged without credentials fails with 401."""
        rec = Recorder()
        port = free_udp_port()
        uas = sipp_uas(self, port, "uas_auth.xml")
        yield uas.bound()
        CallLeg.dial(
            self.stack,
            "sip:alice@127.0.0.1",
            "sip:bob@127.0.0.1",
            "sip:bob@127.0.0.1:%d" % port,
            SDP,
            listener=rec,
        )  # no credentials
        code, reason = yield with_timeout(rec.when("on_failed"), WAIT)
        self.assertEqual(code, 401)
        yield uas.stop()


class SessionTimerTests(_StackTest):
    st_cfg = SessionTimerConfig(enabled=True, session_expires=1800, min_se=1)

    @defer.inlineCallbacks
    def test_we_refresh_with_update(self):
        """As session-timer refresher donkey sends UPDATEs every interval and the call goes on until the caller's BYE."""
        yield self.run_uac("uac_st_uas_refresh.xml")
        app = self.apps[0]
        self.assertEqual(app.leg.session_timer.interval, 2)
        self.assertNotIn("on_session_timeout", app.names())
        self.assertEqual(app.names()[-1], "on_hangup")

    @defer.inlineCallbacks
    def test_peer_refresh_then_timeout(self):
        """When the refreshing caller stops refreshing, the session timer expires and donkey sends BYE."""
        yield self.run_uac("uac_st_timeout.xml")
        app = self.apps[0]
        self.assertIn("on_session_timeout", app.names())
        self.assertNotIn("on_hangup", app.names())
