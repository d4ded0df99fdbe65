"""Tests for :mod:`donkey.monitoring.store`: every store function, with a fake clock."""

import re
import time

from twisted.internet import task
from twisted.trial import unittest

from donkey.common.saferegex import RegexError
from donkey.monitoring.store import (
    MonitoringGarbageCollector,
    MonitoringStore,
    make_garbage_collector,
    store_from_config,
)


class StoreTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.store = MonitoringStore(self.clock)


class WriteTests(StoreTestCase):
    def test_set_creates_entry(self):
        """set on an unknown ID creates its entry."""
        self.store.set("a", "dir", "in")
        self.assertEqual(self.store.get("a"), {"dir": "in"})
        self.assertIn("a", self.store)
        self.assertEqual(len(self.store), 1)

    def test_set_overwrites(self):
        """set on an existing attribute replaces its value."""
        self.store.set("a", "dir", "in")
        self.store.set("a", "dir", "out")
        self.assertEqual(self.store.get("a"), {"dir": "out"})

    def test_log_is_set(self):
        """log is the same as set."""
        self.store.log("a", "dsm_state", "X")
        self.assertEqual(self.store.get_single("a", "dsm_state"), "X")

    def test_update(self):
        """update sets several attributes at once."""
        self.store.update("a", {"from": "f", "to": "t"})
        self.assertEqual(self.store.get("a"), {"from": "f", "to": "t"})

    def test_values_keep_their_type(self):
        """Numbers, booleans, lists and dicts come back as they were stored."""
        self.store.update("a", {"i": 3, "f": 1.5, "b": True, "l": [1, "x"], "d": {"k": None}})
        self.assertEqual(
            self.store.get("a"), {"i": 3, "f": 1.5, "b": True, "l": [1, "x"], "d": {"k": None}}
        )

    def test_add_on_missing_starts_from_zero(self):
        """The first add of a missing attribute gives [0, value], as in SEMS."""
        self.store.add("a", "g", "app/START")
        self.assertEqual(self.store.get_single("a", "g"), [0, "app/START"])

    def test_add_appends(self):
        """log_add (add) builds SEMS's list starting with 0."""
        for v in ("app/START", "> t >", "app/RUN"):
            self.store.log_add("a", "g", v)
        self.assertEqual(self.store.get_single("a", "g"), [0, "app/START", "> t >", "app/RUN"])

    def test_add_on_scalar_wraps(self):
        """add on a scalar attribute turns it into a list of both values."""
        self.store.set("a", "g", "first")
        self.store.add("a", "g", "second")
        self.assertEqual(self.store.get_single("a", "g"), ["first", "second"])

    def test_add_on_list_appends(self):
        """add on a list attribute appends to it."""
        self.store.set("a", "g", ["x"])
        self.store.add("a", "g", "y")
        self.assertEqual(self.store.get_single("a", "g"), ["x", "y"])

    def test_seed_state_graph_shape(self):
        """The exact shape the quizconnect tutorial shows for s.get(id)."""
        ident = "6ABC60BB-4C72F4BF0005C7FD-B6A45B70"
        self.store.update(
            ident,
            {
                "from": '"bee" <sip:5@192.168.5.106>',
                "ruri": "sip:35@192.168.5.106",
                "app": "quizconnect_caller",
                "to": "<sip:35@192.168.5.106>",
            },
        )
        self.store.log(ident, "dsm_state", "START")
        for step in (
            "quizconnect_caller/START",
            "> got INVITE in caller leg >",
            "quizconnect_caller/RUN_INVITE",
        ):
            self.store.log_add(ident, "dsm_stategraph", step)
        self.store.log(ident, "dsm_state", "WAIT_CALLEE")
        self.assertEqual(
            self.store.get(ident)["dsm_stategraph"],
            [
                0,
                "quizconnect_caller/START",
                "> got INVITE in caller leg >",
                "quizconnect_caller/RUN_INVITE",
            ],
        )
        self.assertEqual(self.store.get(ident)["dsm_state"], "WAIT_CALLEE")


class FinishTests(StoreTestCase):
    def test_mark_finished(self):
        """mark_finished moves an entry from the active to the finished list."""
        self.store.set("a", "k", 1)
        self.store.set("b", "k", 2)
        self.store.mark_finished("a")
        self.assertEqual(self.store.list_finished(), ["a"])
        self.assertEqual(self.store.list_active(), ["b"])
        self.assertEqual(self.store.list(), ["a", "b"])

    def test_mark_finished_at_clock_zero(self):
        """A finish time of 0 (a fresh task.Clock) still counts as finished."""
        store = MonitoringStore(task.Clock())
        store.mark_finished("a")
        self.assertEqual(store.list_finished(), ["a"])

    def test_mark_finished_keeps_first_time(self):
        """mark_finished does not override an expiration already set."""
        self.store.set_expiration("a", 5000)
        self.store.mark_finished("a")
        self.assertEqual(self.store.list_finished(), [])
        self.clock.advance(4000)
        self.assertEqual(self.store.list_finished(), ["a"])

    def test_mark_finished_creates_entry(self):
        """mark_finished on an unknown ID creates an empty entry."""
        self.store.mark_finished("a")
        self.assertEqual(self.store.get("a"), {})

    def test_set_expiration(self):
        """An entry with an expiration time turns finished when the clock reaches it."""
        self.store.set("a", "k", 1)
        self.store.set_expiration("a", 1010)
        self.assertEqual(self.store.list_active(), ["a"])
        self.clock.advance(10)
        self.assertEqual(self.store.list_active(), [])
        self.assertEqual(self.store.list_finished(), ["a"])

    def test_set_expiration_zero_reactivates(self):
        """An expiration of 0 makes a finished entry active again."""
        self.store.mark_finished("a")
        self.store.set_expiration("a", 0)
        self.assertEqual(self.store.list_active(), ["a"])


class ReadTests(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.store.update("a", {"dir": "in", "codec": "GSM", "ruri": "sip:1@mydomain.net"})
        self.store.update("b", {"dir": "out", "codec": "GSM", "ruri": "sip:2@other.org"})
        self.store.update("c", {"dir": "in", "codec": "PCMU", "ruri": 17})
        self.store.mark_finished("c")

    def test_list(self):
        """list answers every ID in creation order."""
        self.assertEqual(self.store.list(), ["a", "b", "c"])

    def test_list_by_filter(self):
        """list_by_filter answers the IDs matching every pair; no pairs match all."""
        self.assertEqual(self.store.list_by_filter(("dir", "in")), ["a", "c"])
        self.assertEqual(self.store.list_by_filter(("dir", "in"), ("codec", "GSM")), ["a"])
        self.assertEqual(self.store.list_by_filter(("nothere", "x")), [])
        self.assertEqual(self.store.list_by_filter(), ["a", "b", "c"])

    def test_list_by_regex(self):
        """list_by_regex searches string attributes with a pattern or a compiled regex."""
        self.assertEqual(self.store.list_by_regex("ruri", ".*mydomain.net.*"), ["a"])
        self.assertEqual(self.store.list_by_regex("ruri", "sip:"), ["a", "b"])
        self.assertEqual(self.store.list_by_regex("ruri", re.compile("other")), ["b"])

    def test_list_by_regex_bad_pattern(self):
        """An invalid pattern raises RegexError."""
        self.assertRaises(RegexError, self.store.list_by_regex, "ruri", "(")

    def test_list_by_regex_catastrophic_pattern_is_linear(self):
        """``^(a+)+$`` over a long value answers at once instead of freezing the server."""
        self.store.set("a", "user", "a" * 40 + "b")
        started = time.monotonic()
        self.assertEqual(self.store.list_by_regex("user", "^(a+)+$"), [])
        self.assertLess(time.monotonic() - started, 0.5)

    def test_list_by_regex_refuses_backreferences(self):
        """A pattern only a backtracking engine can run is refused with the reason."""
        with self.assertRaises(RegexError) as caught:
            self.store.list_by_regex("ruri", r"(a)\1")
        self.assertIn("exponential", str(caught.exception))

    def test_get(self):
        """get answers an entry's attributes, or None for an unknown ID."""
        self.assertEqual(self.store.get("b")["dir"], "out")
        self.assertIsNone(self.store.get("zzz"))

    def test_get_returns_copy(self):
        """Changing what get answered leaves the store unchanged."""
        self.store.add("a", "g", "x")
        got = self.store.get("a")
        got["dir"] = "changed"
        got["g"].append("y")
        self.assertEqual(self.store.get_single("a", "dir"), "in")
        self.assertEqual(self.store.get_single("a", "g"), [0, "x"])

    def test_get_view(self):
        """get_view answers the live attributes, or None for an unknown ID."""
        self.assertEqual(self.store.get_view("a")["dir"], "in")
        self.assertIsNone(self.store.get_view("zzz"))

    def test_get_single(self):
        """get_single answers one attribute, None or the given default when missing."""
        self.assertEqual(self.store.get_single("a", "codec"), "GSM")
        self.assertIsNone(self.store.get_single("a", "nothere"))
        self.assertEqual(self.store.get_single("zzz", "codec", "dflt"), "dflt")

    def test_get_attribute(self):
        """get_attribute answers (ID, value) for every entry."""
        self.assertEqual(
            self.store.get_attribute("codec"), [("a", "GSM"), ("b", "GSM"), ("c", "PCMU")]
        )

    def test_get_attribute_missing_is_none(self):
        """get_attribute answers None for an entry without that attribute."""
        self.store.set("d", "other", 1)
        self.assertEqual(self.store.get_attribute("codec")[-1], ("d", None))

    def test_get_attribute_active(self):
        """get_attribute_active leaves out finished entries."""
        self.assertEqual(self.store.get_attribute_active("dir"), [("a", "in"), ("b", "out")])

    def test_get_attribute_finished(self):
        """get_attribute_finished answers only finished entries."""
        self.assertEqual(self.store.get_attribute_finished("dir"), [("c", "in")])


class EraseTests(StoreTestCase):
    def setUp(self):
        super().setUp()
        for ident, d in (("a", "in"), ("b", "out"), ("c", "in")):
            self.store.set(ident, "dir", d)

    def test_erase(self):
        """erase removes one entry and says whether there was one."""
        self.assertTrue(self.store.erase("b"))
        self.assertEqual(self.store.list(), ["a", "c"])
        self.assertFalse(self.store.erase("b"))

    def test_erase_removes_samples(self):
        """erase removes the entry's samples too."""
        self.store.add_sample("b", "x")
        self.store.erase("b")
        self.assertEqual(self.store.get_all_counts("b"), {})

    def test_erase_by_filter(self):
        """erase_by_filter removes the matching entries and answers their IDs."""
        self.assertEqual(self.store.erase_by_filter(("dir", "in")), ["a", "c"])
        self.assertEqual(self.store.list(), ["b"])

    def test_clear(self):
        """clear removes entries and samples."""
        self.store.add_sample("t", "n")
        self.store.clear()
        self.assertEqual(self.store.list(), [])
        self.assertEqual(self.store.get_count("t", "n"), 0)

    def test_clear_finished(self):
        """clear_finished removes only entries finished by now."""
        self.store.mark_finished("a")
        self.store.set_expiration("c", 2000)  # finishes later
        self.assertEqual(self.store.clear_finished(), ["a"])
        self.assertEqual(self.store.list(), ["b", "c"])


class CounterTests(StoreTestCase):
    def test_inc_dec(self):
        """inc and dec answer the new counter value, which get_single shows."""
        self.assertEqual(self.store.inc("calls", "failed"), 1)
        self.assertEqual(self.store.inc("calls", "failed"), 2)
        self.assertEqual(self.store.dec("calls", "failed"), 1)
        self.assertEqual(self.store.get_single("calls", "failed"), 1)

    def test_dec_from_nothing(self):
        """dec on a missing counter answers -1."""
        self.assertEqual(self.store.dec("t", "n"), -1)

    def test_add_count(self):
        """add_count adds any amount and answers the new value."""
        self.store.add_count("t", "n", 5)
        self.assertEqual(self.store.add_count("t", "n", -2), 3)

    def test_counter_over_non_integer(self):
        """A counter over a non-integer attribute starts again from 0."""
        self.store.set("t", "n", "text")
        self.assertEqual(self.store.inc("t", "n"), 1)

    def test_get_count_of_counter(self):
        """get_count of a name without samples answers its counter, or 0."""
        self.store.add_count("t", "n", 7)
        self.assertEqual(self.store.get_count("t", "n"), 7)
        self.assertEqual(self.store.get_count("t", "other"), 0)
        self.assertEqual(self.store.get_count("nothing", "n"), 0)

    def test_add_sample_and_get_count(self):
        """get_count sums the samples of the last second, or of a longer window."""
        self.store.add_sample("rate", "calls")
        self.store.add_sample("rate", "calls", 3)
        self.assertEqual(self.store.get_count("rate", "calls"), 4)
        self.clock.advance(0.5)
        self.store.add_sample("rate", "calls")
        self.assertEqual(self.store.get_count("rate", "calls"), 5)
        self.clock.advance(0.7)
        # the first two are now 1.2 s old: out of the default 1 s window
        self.assertEqual(self.store.get_count("rate", "calls"), 1)
        self.assertEqual(self.store.get_count("rate", "calls", 5), 5)

    def test_samples_expire(self):
        """Samples older than retain_samples no longer count."""
        store = MonitoringStore(self.clock, retain_samples=3)
        store.add_sample("rate", "calls", 2)
        self.clock.advance(2)
        self.assertEqual(store.get_count("rate", "calls", 10), 2)
        self.clock.advance(1)
        self.assertEqual(store.get_count("rate", "calls", 10), 0)

    def test_add_sample_with_timestamp(self):
        """A sample with an explicit timestamp counts at that time."""
        self.store.add_sample("rate", "calls", 1, 990.5)
        self.store.add_sample("rate", "calls", 1, 999.5)
        self.assertEqual(self.store.get_count("rate", "calls"), 1)
        self.assertEqual(self.store.get_count("rate", "calls", 10), 2)

    def test_clock_backwards_resets(self):
        """A sample earlier than the newest one starts the sample list over."""
        self.store.add_sample("rate", "calls", 4)
        self.store.add_sample("rate", "calls", 1, 999.0)
        self.assertEqual(self.store.get_count("rate", "calls", 10), 1)

    def test_get_count_at_time(self):
        """get_count can be asked for another moment than now."""
        self.store.add_sample("rate", "calls", 2)
        self.assertEqual(self.store.get_count("rate", "calls", 1, now=1000.5), 2)
        self.assertEqual(self.store.get_count("rate", "calls", 1, now=999.0), 0)

    def test_get_all_counts(self):
        """get_all_counts answers every counter and sampled name of a type."""
        self.store.add_sample("rate", "in", 2)
        self.store.add_sample("rate", "out", 1)
        self.store.inc("rate", "counter")
        self.store.set("rate", "label", "text")
        self.assertEqual(self.store.get_all_counts("rate"), {"counter": 1, "in": 2, "out": 1})
        self.clock.advance(5)
        self.assertEqual(self.store.get_all_counts("rate"), {"counter": 1, "in": 0, "out": 0})
        self.assertEqual(self.store.get_all_counts("rate", 10), {"counter": 1, "in": 2, "out": 1})
        self.assertEqual(self.store.get_all_counts("none"), {})


class GarbageCollectorTests(StoreTestCase):
    def test_collects_finished(self):
        """The garbage collector removes finished entries every interval."""
        self.store.set("a", "k", 1)
        self.store.set("b", "k", 1)
        gc = MonitoringGarbageCollector(self.store, 10, self.clock)
        gc.startService()
        self.store.mark_finished("a")
        self.clock.advance(9)
        self.assertEqual(self.store.list(), ["a", "b"])
        self.clock.advance(1)
        self.assertEqual(self.store.list(), ["b"])
        gc.stopService()
        self.store.mark_finished("b")
        self.clock.advance(100)
        self.assertEqual(self.store.list(), ["b"])

    def test_respects_expiration(self):
        """The garbage collector keeps entries until their expiration time."""
        gc = MonitoringGarbageCollector(self.store, 10, self.clock)
        gc.startService()
        self.addCleanup(gc.stopService)
        self.store.set_expiration("a", 1025)
        self.clock.advance(20)
        self.assertEqual(self.store.list(), ["a"])
        self.clock.advance(10)
        self.assertEqual(self.store.list(), [])

    def test_from_config(self):
        """run_garbage_collector=yes makes a collector at the configured interval; a bad interval is refused."""
        self.assertIsNone(make_garbage_collector({}, self.store, self.clock))
        gc = make_garbage_collector(
            {"run_garbage_collector": "yes", "garbage_collector_interval": "20"},
            self.store,
            self.clock,
        )
        self.assertEqual(gc.interval, 20)
        gc = make_garbage_collector({"run_garbage_collector": "yes"}, self.store, self.clock)
        self.assertEqual(gc.interval, 10)
        self.assertRaises(
            ValueError,
            make_garbage_collector,
            {"run_garbage_collector": "yes", "garbage_collector_interval": "x"},
            self.store,
            self.clock,
        )

    def test_store_from_config(self):
        """retain_samples_s configures how long samples are kept (default 10 s)."""
        self.assertEqual(store_from_config({}, self.clock).retain_samples, 10)
        self.assertEqual(
            store_from_config({"retain_samples_s": "20"}, self.clock).retain_samples, 20
        )


class PerformanceTests(StoreTestCase):
    """The operator queries stay cheap with a thousand sessions."""

    def test_thousand_sessions(self):
        """Operator queries over a thousand sessions stay fast."""
        for i in range(1000):
            ident = "call-%d" % i
            self.store.update(ident, {"dsm_state": "ENTER_PIN", "app": "x"})
            for step in range(5):
                self.store.add(ident, "dsm_stategraph", "x/S%d" % step)
        start = time.perf_counter()
        for _ in range(100):
            self.store.get_attribute_active("dsm_state")
            self.store.get("call-500")
        elapsed = time.perf_counter() - start
        self.assertEqual(len(self.store.get_attribute_active("dsm_state")), 1000)
        # ~100 us per pair here; a generous bound against pathological slowness
        self.assertLess(elapsed, 2.0)
