import random

from twisted.internet.task import Clock
from twisted.trial import unittest

from donkey.media.clock import MediaClock


class Counter:
    def __init__(self, log, name, reactor):
        self.log, self.name, self.reactor = log, name, reactor
        self.times = []

    def receive_tick(self):
        self.log.append(("recv", self.name))

    def send_tick(self):
        self.log.append(("send", self.name))
        self.times.append(self.reactor.seconds())


class Mixer:
    def __init__(self, log):
        self.log = log

    def mix(self):
        self.log.append(("mix",))


class ClockTests(unittest.TestCase):
    def test_no_drift_over_1000_ticks_with_irregular_wakeups(self):
        """Late, irregular reactor wake-ups still give exactly one media tick per 20 ms, never early."""
        r = Clock()
        mc = MediaClock(r)
        s = Counter([], "a", r)
        mc.connect(s)
        rng = random.Random(7)
        # The reactor wakes up late by random amounts (0-15 ms), as under load.
        while r.seconds() < 19.99:
            r.advance(rng.uniform(0.001, 0.015))
        # One tick per 20 ms of wall time, exactly: t = 0 .. 19.98 -> 1000 ticks.
        due = int(r.seconds() / 0.02 + 1e-9) + 1
        self.assertEqual(len(s.times), due)
        self.assertGreaterEqual(len(s.times), 1000)
        # Each tick ran no more than one wakeup late, never early.
        for n, t in enumerate(s.times):
            self.assertGreaterEqual(t + 1e-9, n * 0.02)
            self.assertLess(t, n * 0.02 + 0.0151)
        mc.disconnect(s)
        self.assertFalse(r.getDelayedCalls())

    def test_relative_scheduling_would_drift(self):
        # Sanity check of the test above: fixed 25 ms wakeups still give 50 ticks/s.
        """Wake-ups every 25 ms still give 50 ticks a second, not 40."""
        r = Clock()
        mc = MediaClock(r)
        s = Counter([], "a", r)
        mc.connect(s)
        for _ in range(400):
            r.advance(0.025)
        self.assertEqual(len(s.times), 501)
        mc.disconnect(s)

    def test_phases_and_mixers(self):
        """Each tick receives for every session, mixes, then sends for every session."""
        r = Clock()
        log = []
        mc = MediaClock(r)
        mc.add_mixer(Mixer(log))
        a, b = Counter(log, "a", r), Counter(log, "b", r)
        mc.connect(a)
        mc.connect(b)
        r.advance(0)
        self.assertEqual(
            log, [("recv", "a"), ("recv", "b"), ("mix",), ("send", "a"), ("send", "b")]
        )
        mc.disconnect(a)
        mc.disconnect(b)
        self.assertFalse(mc.running)

    def test_long_stall_is_skipped_not_bursted(self):
        """After a 1 s stall the clock catches up at most max_catchup ticks and counts the rest as skipped."""
        r = Clock()
        mc = MediaClock(r, max_catchup=5)
        s = Counter([], "a", r)
        mc.connect(s)
        r.advance(0)
        r.advance(1.0)  # a 1 s stall
        self.assertEqual(len(s.times), 1 + 5)
        self.assertEqual(mc.skipped, 45)
        r.advance(0.02)
        self.assertEqual(len(s.times), 7)
        mc.disconnect(s)

    def test_failing_session_is_disconnected_others_continue(self):
        """A session whose tick raises is disconnected and logged; the others keep their ticks."""
        r = Clock()
        mc = MediaClock(r)
        good = Counter([], "good", r)

        class Bad(Counter):
            def send_tick(self):
                raise RuntimeError("boom")

        bad = Bad([], "bad", r)
        mc.connect(bad)
        mc.connect(good)
        r.advance(0)
        r.advance(0.02)
        self.assertEqual(len(good.times), 2)
        self.assertEqual(mc.sessions, [good])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        mc.disconnect(good)


class BrokenMixer:
    def __init__(self):
        self.calls = 0

    def mix(self):
        self.calls += 1
        raise RuntimeError("mixer boom")


class MixerFailureTests(unittest.TestCase):
    def test_broken_mixer_is_reported_once_and_calls_keep_ticking(self):
        """A conference bridge failing every tick logs one traceback, and calls still send audio."""
        r = Clock()
        mc = MediaClock(r)
        good = Counter([], "good", r)
        bad = BrokenMixer()
        mc.add_mixer(bad)
        mc.connect(good)
        r.advance(0)
        for _ in range(9):
            r.advance(0.02)
        self.assertEqual(bad.calls, 10)
        self.assertEqual(len(good.times), 10)
        self.assertEqual(mc.errors, 10)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_mixer_added_again_is_reported_again(self):
        """A bridge removed and re-added after a failure gets its next failure logged."""
        r = Clock()
        mc = MediaClock(r)
        bad = BrokenMixer()
        mc.add_mixer(bad)
        mc.connect(Counter([], "c", r))
        r.advance(0)
        mc.remove_mixer(bad)
        mc.add_mixer(bad)
        r.advance(0.02)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
