"""SessionTimer on task.Clock: when a dialog refreshes and when it gives up."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial import unittest

from donkey.sip.headers import SipHeaders
from donkey.sip.session_timer import RETRY_DELAY, SessionTimer, SessionTimerConfig

CFG = SessionTimerConfig(enabled=True, session_expires=600, min_se=90)


class SessionTimerClockTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.fired: list[str] = []
        self.timer = SessionTimer(
            CFG,
            self.clock,
            lambda: self.fired.append("refresh"),
            lambda: self.fired.append("expired"),
        )

    def invite(self, se: str, extra: list[tuple[str, str]] | None = None) -> int | None:
        return self.timer.inbound(
            SipHeaders([("Session-Expires", se), ("Supported", "timer")] + (extra or []))
        )

    def test_refresher_refreshes_at_half(self):
        """As refresher we refresh at half the interval, not before."""
        self.assertIsNone(self.invite("200;refresher=uas"))
        self.timer.start()
        self.clock.advance(99)
        self.assertEqual(self.fired, [])
        self.clock.advance(1)
        self.assertEqual(self.fired, ["refresh"])

    def test_non_refresher_gives_up_before_expiry(self):
        """When the peer refreshes, we give up min(32, SE/3) seconds before the end."""
        self.invite("300;refresher=uac")
        self.timer.start()
        self.clock.advance(267)
        self.assertEqual(self.fired, [])
        self.clock.advance(1)
        self.assertEqual(self.fired, ["expired"])

    def test_peer_refresh_restarts_the_clock(self):
        """A peer refresh in time keeps the call alive."""
        self.invite("300;refresher=uac")
        self.timer.start()
        self.clock.advance(200)
        self.timer.peer_refreshed(
            SipHeaders([("Session-Expires", "300;refresher=uac"), ("Supported", "timer")])
        )
        self.clock.advance(200)
        self.assertEqual(self.fired, [])

    def test_too_small_asks_for_422(self):
        """An interval below our Min-SE gives the Min-SE to send with 422."""
        self.assertEqual(self.invite("30"), 90)
        self.assertIsNone(self.timer.state)

    def test_update_only_when_allowed(self):
        """UPDATE refreshes only when the peer allows UPDATE, until it refuses one."""
        self.invite("200;refresher=uas", [("Allow", "INVITE, UPDATE")])
        self.assertTrue(self.timer.refresh_with_update())
        self.timer.update_refused()
        self.assertFalse(self.timer.refresh_with_update())

    def test_retry_and_close(self):
        """A busy dialog retries shortly; a closed one never fires again."""
        self.invite("200;refresher=uas")
        self.timer.retry()
        self.clock.advance(RETRY_DELAY)
        self.assertEqual(self.fired, ["refresh"])
        self.timer.start()
        self.timer.close()
        self.timer.start()
        self.clock.advance(1000)
        self.assertEqual(self.fired, ["refresh"])
        self.assertFalse(self.timer.running)

    def test_disabled_config_never_runs(self):
        """With timers off nothing is negotiated and nothing fires."""
        timer = SessionTimer(SessionTimerConfig(), self.clock, self.fail, self.fail)
        self.assertIsNone(timer.inbound(SipHeaders([("Session-Expires", "90")])))
        timer.start()
        self.clock.advance(10000)
        self.assertEqual(timer.response_headers(), "")
