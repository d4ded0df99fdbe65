"""Tests for the ``monitoring`` DI interface: SEMS names, arguments and result shapes."""

import time

from twisted.internet import task
from twisted.trial import unittest

from donkey.app.monitoring_di import MonitoringInterface, register_monitoring
from donkey.di.registry import DIArgumentError, DINotImplemented, DIRegistry
from donkey.monitoring.store import MonitoringStore


class InterfaceTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(100)
        self.store = MonitoringStore(self.clock)
        self.registry = DIRegistry()
        self.iface = register_monitoring(self.registry, self.store)

    def call(self, func, *args):
        """Invoke synchronously (all monitoring functions are)."""
        return self.successResultOf(self.registry.invoke("monitoring", func, list(args)))

    def fails(self, func, *args, exc=DIArgumentError):
        return self.failureResultOf(self.registry.invoke("monitoring", func, list(args)), exc).value


class RegistrationTests(InterfaceTestCase):
    def test_registered(self):
        """register_monitoring publishes the interface as monitoring."""
        self.assertIs(self.registry.get("monitoring"), self.iface)
        self.assertIsInstance(self.iface, MonitoringInterface)

    def test_all_sems_functions(self):
        """Every function SEMS's monitoring module offers is there."""
        expected = {
            "set", "add", "log", "logAdd", "markFinished", "setExpiration", "list",
            "listByFilter", "listByRegex", "listActive", "listFinished", "get",
            "getAttribute", "getAttributeActive", "getAttributeFinished", "getSingle",
            "erase", "eraseByFilter", "clear", "clearFinished", "inc", "dec", "addCount",
            "addSample", "getCount", "getAllCounts",
        }  # fmt: skip
        self.assertEqual(set(self.iface.functions), expected)
        self.assertEqual(set(self.call("_list")), expected)

    def test_unknown_function(self):
        """An unknown function name answers not implemented."""
        self.fails("nothere", exc=DINotImplemented)


class WriterTests(InterfaceTestCase):
    def test_set_answers_ok(self):
        """set stores the pair and answers [0, 'OK']."""
        self.assertEqual(self.call("set", "a", "k", "v"), [0, "OK"])
        self.assertEqual(self.store.get("a"), {"k": "v"})

    def test_set_many_pairs(self):
        """set/log with several key, value pairs stores them all."""
        self.call("log", "a", "k1", 1, "k2", [2])
        self.assertEqual(self.store.get("a"), {"k1": 1, "k2": [2]})

    def test_set_odd_arguments(self):
        """set with a key missing its value reports a parameter number mismatch."""
        e = self.fails("set", "a", "k1", 1, "k2")
        self.assertIn("parameter number mismatch", e.message)
        self.fails("set", "a")

    def test_set_bad_types(self):
        """set with a non-string ID or key names the bad argument."""
        e = self.fails("set", 3, "k", "v")
        self.assertIn("argument 1 (ID) must be a string", e.message)
        self.fails("set", "a", 5, "v")

    def test_log_add_seed_shape(self):
        """log + repeated logAdd, then get: the quizconnect tutorial's output."""
        ident = "24ECAEFD-4C72F33D000438F1-B6843B70"
        self.call(
            "log", ident,
            "from", "<sip:quizconnect@192.168.5.106:5080>",
            "ruri", "sip:john@192.168.5.106:5080",
            "app", "quizconnect_callee",
            "to", "<sip:john@192.168.5.106:5080>",
        )  # fmt: skip
        self.call("log", ident, "dsm_state", "START")
        graph = [
            "quizconnect_callee/START",
            "> got INVITE in callee leg >",
            "quizconnect_callee/RUN_INVITE",
            "quizconnect_callee/START",
            "> session starts in callee leg >",
            "quizconnect_callee/ENTER_PIN",
        ]
        for step in graph:
            self.assertEqual(self.call("logAdd", ident, "dsm_stategraph", step), [0, "OK"])
        self.call("log", ident, "dsm_state", "ENTER_PIN")
        self.call("log", ident, "dsm_diag", "quizconnect_callee", "dir", "out")
        self.assertEqual(
            self.call("get", ident),
            [
                {
                    "from": "<sip:quizconnect@192.168.5.106:5080>",
                    "ruri": "sip:john@192.168.5.106:5080",
                    "app": "quizconnect_callee",
                    "to": "<sip:john@192.168.5.106:5080>",
                    "dsm_state": "ENTER_PIN",
                    "dsm_stategraph": [0] + graph,
                    "dsm_diag": "quizconnect_callee",
                    "dir": "out",
                }
            ],
        )

    def test_add_alias(self):
        """add appends like logAdd, starting from SEMS's 0."""
        self.call("add", "a", "g", "x")
        self.assertEqual(self.store.get_single("a", "g"), [0, "x"])

    def test_log_add_missing_value(self):
        """logAdd without a value is refused."""
        self.fails("logAdd", "a", "g")

    def test_mark_finished(self):
        """markFinished moves an entry to listFinished; it needs an ID."""
        self.call("set", "a", "k", 1)
        self.assertEqual(self.call("markFinished", "a"), [0, "OK"])
        self.assertEqual(self.call("listFinished"), ["a"])
        self.fails("markFinished")

    def test_set_expiration(self):
        """setExpiration finishes an entry at the given time; a non-number is refused."""
        self.assertEqual(self.call("setExpiration", "a", 150), [0, "OK"])
        self.assertEqual(self.call("listActive"), ["a"])
        self.clock.advance(50)
        self.assertEqual(self.call("listFinished"), ["a"])
        e = self.fails("setExpiration", "a", "soon")
        self.assertIn("must be a number", e.message)


class ReaderTests(InterfaceTestCase):
    def setUp(self):
        super().setUp()
        self.call("set", "a", "dir", "in", "codec_name", "GSM", "r_uri", "sip:x@mydomain.net")
        self.call("set", "b", "dir", "out", "codec_name", "GSM", "dsm_state", "RUN")
        self.call("set", "c", "dir", "in", "codec_name", "PCMU", "dsm_state", "END")
        self.call("markFinished", "c")

    def test_list(self):
        """list answers every ID in creation order."""
        self.assertEqual(self.call("list"), ["a", "b", "c"])

    def test_list_active_finished(self):
        """listActive and listFinished split the entries."""
        self.assertEqual(self.call("listActive"), ["a", "b"])
        self.assertEqual(self.call("listFinished"), ["c"])

    def test_list_by_filter(self):
        """listByFilter answers the IDs matching every [attribute, value] pair."""
        self.assertEqual(self.call("listByFilter", ["dir", "in"], ["codec_name", "GSM"]), ["a"])
        self.assertEqual(self.call("listByFilter", ["dir", "in"]), ["a", "c"])

    def test_list_by_filter_bad(self):
        """A filter that is not an [attribute, value] pair is refused."""
        e = self.fails("listByFilter", "dir")
        self.assertIn("[attribute, value] pair", e.message)

    def test_list_by_regex(self):
        """listByRegex answers the IDs whose attribute matches the pattern."""
        self.assertEqual(self.call("listByRegex", "r_uri", ".*mydomain.net.*"), ["a"])

    def test_list_by_regex_bad(self):
        """A pattern that does not compile, or a missing one, is refused."""
        e = self.fails("listByRegex", "r_uri", "(")
        self.assertIn("could not compile regex", e.message)
        self.fails("listByRegex", "r_uri")

    def test_list_by_regex_catastrophic_pattern_answers_at_once(self):
        """``^(a+)+$`` over 40 characters answers at once (finding 3: it froze calls for seconds)."""
        self.store.set("a", "user", "a" * 40 + "!")
        started = time.monotonic()
        self.assertEqual(self.call("listByRegex", "user", "^(a+)+$"), [])
        self.assertLess(time.monotonic() - started, 0.5)

    def test_get(self):
        """get answers [attributes] for a known ID, [] for an unknown one."""
        self.assertEqual(
            self.call("get", "b"), [{"dir": "out", "codec_name": "GSM", "dsm_state": "RUN"}]
        )
        self.assertEqual(self.call("get", "nothere"), [])
        self.fails("get")
        self.fails("get", 1)

    def test_get_single(self):
        """getSingle answers [value], or [] for an unknown ID or attribute."""
        self.assertEqual(self.call("getSingle", "b", "dir"), ["out"])
        self.assertEqual(self.call("getSingle", "b", "nothere"), [])
        self.assertEqual(self.call("getSingle", "nothere", "dir"), [])

    def test_get_attribute(self):
        """getAttribute answers [ID, value] for every entry, None where unset."""
        self.assertEqual(
            self.call("getAttribute", "dsm_state"), [["a", None], ["b", "RUN"], ["c", "END"]]
        )

    def test_get_attribute_active(self):
        """getAttributeActive answers only the active entries."""
        self.assertEqual(self.call("getAttributeActive", "dsm_state"), [["a", None], ["b", "RUN"]])

    def test_get_attribute_finished(self):
        """getAttributeFinished answers only the finished entries."""
        self.assertEqual(self.call("getAttributeFinished", "dsm_state"), [["c", "END"]])
        self.fails("getAttributeFinished")


class EraseTests(InterfaceTestCase):
    def setUp(self):
        super().setUp()
        for ident, d in (("a", "in"), ("b", "out"), ("c", "in")):
            self.call("set", ident, "dir", d)

    def test_erase(self):
        """erase removes one entry and answers [0, 'OK']."""
        self.assertEqual(self.call("erase", "b"), [0, "OK"])
        self.assertEqual(self.call("list"), ["a", "c"])

    def test_erase_by_filter(self):
        """eraseByFilter removes the matching entries and answers their IDs."""
        self.assertEqual(self.call("eraseByFilter", ["dir", "in"]), ["a", "c"])
        self.assertEqual(self.call("list"), ["b"])

    def test_clear(self):
        """clear removes everything."""
        self.assertEqual(self.call("clear"), [0, "OK"])
        self.assertEqual(self.call("list"), [])

    def test_clear_finished(self):
        """clearFinished removes only the finished entries."""
        self.call("markFinished", "a")
        self.assertEqual(self.call("clearFinished"), [0, "OK"])
        self.assertEqual(self.call("list"), ["b", "c"])


class CounterTests(InterfaceTestCase):
    def test_inc_dec_add_count(self):
        """inc, dec and addCount change a counter that getCount and get show."""
        self.assertEqual(self.call("inc", "calls", "failed"), [0, "OK"])
        self.call("inc", "calls", "failed")
        self.call("dec", "calls", "failed")
        self.call("addCount", "calls", "failed", 10)
        self.assertEqual(self.call("getCount", "calls", "failed"), [11])
        self.assertEqual(self.call("get", "calls"), [{"failed": 11}])

    def test_add_count_bad(self):
        """addCount with a non-integer, or inc without a name, is refused."""
        e = self.fails("addCount", "calls", "failed", "ten")
        self.assertIn("must be an integer", e.message)
        self.fails("inc", "calls")

    def test_samples(self):
        """addSample records counts (a float third argument is a timestamp) that getCount sums."""
        self.assertEqual(self.call("addSample", "rate", "in"), [0, "OK"])
        self.call("addSample", "rate", "in", 4)
        self.call("addSample", "rate", "out", 2, 99.5)
        self.call("addSample", "rate", "old", 95.0)
        self.assertEqual(self.call("getCount", "rate", "in"), [5])
        self.assertEqual(self.call("getCount", "rate", "old"), [0])
        self.assertEqual(self.call("getCount", "rate", "old", 10), [1])
        self.assertEqual(self.call("getAllCounts", "rate"), {"in": 5, "out": 2, "old": 0})
        self.assertEqual(self.call("getAllCounts", "rate", 10), {"in": 5, "out": 2, "old": 1})
        self.assertEqual(self.call("getAllCounts", "none"), {})

    def test_samples_bad(self):
        """addSample, getCount and getAllCounts with missing or bad arguments are refused."""
        self.fails("addSample", "rate")
        self.fails("addSample", "rate", "in", "many")
        self.fails("getCount", "rate", "in", "long")
        self.fails("getAllCounts")
