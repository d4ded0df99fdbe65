"""The ED2 -> reactor timer bridge, driven by a fake clock."""

import signal

from sippy.Time.MonoTime import MonoTime
from sippy.Time.Timeout import Timeout, TimeoutAbsMono, TimeoutInact
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial import unittest

from donkey.sip import reactor_bridge, sippy_process


class BridgeTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.bridge = sippy_process.install(self.clock)
        self.calls = []

    def tearDown(self):
        self.bridge.cancel_all()
        sippy_process.install(reactor)

    def cb(self, *args):
        self.calls.append(args)

    def test_one_shot(self):
        """A sippy one-shot Timeout fires once, at its time, on the reactor clock, and is then forgotten."""
        Timeout(self.cb, 1.5, 1, "a", 2)
        self.clock.advance(1.4)
        self.assertEqual(self.calls, [])
        self.clock.advance(0.2)
        self.assertEqual(self.calls, [("a", 2)])
        self.clock.advance(10)
        self.assertEqual(len(self.calls), 1)
        self.assertEqual(self.bridge.timers, set())

    def test_cancel(self):
        """A cancelled sippy Timeout never fires and leaves no delayed call behind."""
        t = Timeout(self.cb, 1.0)
        t.cancel()
        self.clock.advance(2)
        self.assertEqual(self.calls, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_n_times(self):
        """A Timeout for N ticks fires exactly N times, then stops."""
        Timeout(self.cb, 1.0, 3, "x")
        self.clock.pump([1.0] * 6)
        self.assertEqual(self.calls, [("x",)] * 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_periodic_until_cancelled(self):
        """A periodic Timeout (-1 ticks) keeps firing until cancelled, then stops at once."""
        t = Timeout(self.cb, 0.5, -1)
        self.clock.pump([0.5] * 10)
        self.assertEqual(len(self.calls), 10)
        t.cancel()
        self.clock.pump([0.5] * 4)
        self.assertEqual(len(self.calls), 10)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_periodic_cancel_from_callback(self):
        """A periodic Timeout cancelled from its own callback fires no more."""
        holder = []

        def cb():
            self.calls.append(1)
            if len(self.calls) == 2:
                holder[0].cancel()

        holder.append(Timeout(cb, 1.0, -1))
        self.clock.pump([1.0] * 5)
        self.assertEqual(len(self.calls), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_abs_time(self):
        """A Timeout at an absolute monotonic time fires when that time comes, not before."""
        TimeoutAbsMono(self.cb, MonoTime().getOffsetCopy(2.0), "abs")
        self.clock.advance(1.0)
        self.assertEqual(self.calls, [])
        self.clock.advance(1.1)
        self.assertEqual(self.calls, [("abs",)])

    def test_abs_time_requires_monotime(self):
        """An absolute-time timer given a plain number is refused with TypeError."""
        self.assertRaises(TypeError, self.bridge.regTimer, self.cb, 1.0, 1, True)

    def test_inactive_until_go(self):
        """An inactive Timeout waits, however long, until go() starts it."""
        t = TimeoutInact(self.cb, 1.0)
        self.clock.advance(5)
        self.assertEqual(self.calls, [])
        t.go()
        self.clock.advance(1)
        self.assertEqual(len(self.calls), 1)

    def test_spread_runs(self):
        """spread_runs() jitters a timer's first run around its interval (within 10 %)."""
        t = TimeoutInact(self.cb, 10.0, -1)
        t.spread_runs(0.1)
        t.go()
        delay = self.clock.getDelayedCalls()[0].getTime()
        self.assertTrue(9.0 <= delay <= 11.0, delay)
        t.cancel()

    def test_nticks_zero(self):
        """A timer for zero ticks is never scheduled."""
        self.assertIsNone(self.bridge.regTimer(self.cb, 1.0, 0))

    def test_callback_exception_does_not_kill_periodic(self):
        """A periodic timer whose callback raises keeps running; each error is logged."""

        def boom():
            self.calls.append(1)
            raise ValueError("x")

        t = Timeout(boom, 1.0, -1)
        self.clock.pump([1.0] * 3)
        self.assertEqual(len(self.calls), 3)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 3)
        t.cancel()

    def test_call_from_thread_uses_reactor(self):
        """sippy's callFromThread goes through the Twisted reactor bridge."""
        self.assertIs(sippy_process.ED2.callFromThread.__self__, self.bridge)

    def test_loop_refuses(self):
        """sippy's own event loop cannot be started: the reactor is the only loop."""
        self.assertRaises(RuntimeError, sippy_process.ED2.loop)

    def test_cancel_all(self):
        """cancel_all() cancels every sippy timer and reports how many there were."""
        Timeout(self.cb, 1.0)
        Timeout(self.cb, 2.0, -1)
        self.assertEqual(self.bridge.cancel_all(), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SignalMaskTestCase(unittest.TestCase):
    def test_sigurg_unblocked(self):
        """Importing sippy's dispatcher leaves SIGURG unblocked in the reactor thread."""
        import sippy.Core.EventDispatcher  # noqa: F401  (the culprit)

        self.assertNotIn(signal.SIGURG, signal.pthread_sigmask(signal.SIG_BLOCK, []))


class LoggerTestCase(unittest.TestCase):
    def test_disabled_logger_is_silent(self):
        """sippy's SIP message log writes nothing when disabled and one line per message when on."""
        seen = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(seen.append)
        self.addCleanup(globalLogPublisher.removeObserver, seen.append)
        reactor_bridge.TwistedSipLogger(False).write("SENDING", "x")
        reactor_bridge.TwistedSipLogger(True).write("RECEIVED ", "INVITE")
        msgs = [e for e in seen if e.get("sip")]
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["sip"], "RECEIVED INVITE")
