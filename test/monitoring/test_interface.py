"""Tests for the C{monitoring} DI interface: SEMS names, arguments and result shapes."""

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
        self.assertIs(self.registry.get("monitoring"), self.iface)
        self.assertIsInstance(self.iface, MonitoringInterface)

    def test_allSemsFunctions(self):
        expected = {
            "set", "add", "log", "logAdd", "markFinished", "setExpiration", "list",
            "listByFilter", "listByRegex", "listActive", "listFinished", "get",
            "getAttribute", "getAttributeActive", "getAttributeFinished", "getSingle",
            "erase", "eraseByFilter", "clear", "clearFinished", "inc", "dec", "addCount",
            "addSample", "getCount", "getAllCounts",
        }  # fmt: skip
        self.assertEqual(set(self.iface.functions), expected)
        self.assertEqual(set(self.call("_list")), expected)

    def test_unknownFunction(self):
        self.fails("nothere", exc=DINotImplemented)


class WriterTests(InterfaceTestCase):
    def test_setAnswersOK(self):
        self.assertEqual(self.call("set", "a", "k", "v"), [0, "OK"])
        self.assertEqual(self.store.get("a"), {"k": "v"})

    def test_setManyPairs(self):
        self.call("log", "a", "k1", 1, "k2", [2])
        self.assertEqual(self.store.get("a"), {"k1": 1, "k2": [2]})

    def test_setOddArguments(self):
        e = self.fails("set", "a", "k1", 1, "k2")
        self.assertIn("parameter number mismatch", e.message)
        self.fails("set", "a")

    def test_setBadTypes(self):
        e = self.fails("set", 3, "k", "v")
        self.assertIn("argument 1 (ID) must be a string", e.message)
        self.fails("set", "a", 5, "v")

    def test_logAddSeedShape(self):
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

    def test_addAlias(self):
        self.call("add", "a", "g", "x")
        self.assertEqual(self.store.get_single("a", "g"), [0, "x"])

    def test_logAddMissingValue(self):
        self.fails("logAdd", "a", "g")

    def test_markFinished(self):
        self.call("set", "a", "k", 1)
        self.assertEqual(self.call("markFinished", "a"), [0, "OK"])
        self.assertEqual(self.call("listFinished"), ["a"])
        self.fails("markFinished")

    def test_setExpiration(self):
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
        self.assertEqual(self.call("list"), ["a", "b", "c"])

    def test_listActiveFinished(self):
        self.assertEqual(self.call("listActive"), ["a", "b"])
        self.assertEqual(self.call("listFinished"), ["c"])

    def test_listByFilter(self):
        self.assertEqual(self.call("listByFilter", ["dir", "in"], ["codec_name", "GSM"]), ["a"])
        self.assertEqual(self.call("listByFilter", ["dir", "in"]), ["a", "c"])

    def test_listByFilterBad(self):
        e = self.fails("listByFilter", "dir")
        self.assertIn("[attribute, value] pair", e.message)

    def test_listByRegex(self):
        self.assertEqual(self.call("listByRegex", "r_uri", ".*mydomain.net.*"), ["a"])

    def test_listByRegexBad(self):
        e = self.fails("listByRegex", "r_uri", "(")
        self.assertIn("could not compile regex", e.message)
        self.fails("listByRegex", "r_uri")

    def test_get(self):
        self.assertEqual(
            self.call("get", "b"), [{"dir": "out", "codec_name": "GSM", "dsm_state": "RUN"}]
        )
        self.assertEqual(self.call("get", "nothere"), [])
        self.fails("get")
        self.fails("get", 1)

    def test_getSingle(self):
        self.assertEqual(self.call("getSingle", "b", "dir"), ["out"])
        self.assertEqual(self.call("getSingle", "b", "nothere"), [])
        self.assertEqual(self.call("getSingle", "nothere", "dir"), [])

    def test_getAttribute(self):
        self.assertEqual(
            self.call("getAttribute", "dsm_state"), [["a", None], ["b", "RUN"], ["c", "END"]]
        )

    def test_getAttributeActive(self):
        self.assertEqual(self.call("getAttributeActive", "dsm_state"), [["a", None], ["b", "RUN"]])

    def test_getAttributeFinished(self):
        self.assertEqual(self.call("getAttributeFinished", "dsm_state"), [["c", "END"]])
        self.fails("getAttributeFinished")


class EraseTests(InterfaceTestCase):
    def setUp(self):
        super().setUp()
        for ident, d in (("a", "in"), ("b", "out"), ("c", "in")):
            self.call("set", ident, "dir", d)

    def test_erase(self):
        self.assertEqual(self.call("erase", "b"), [0, "OK"])
        self.assertEqual(self.call("list"), ["a", "c"])

    def test_eraseByFilter(self):
        self.assertEqual(self.call("eraseByFilter", ["dir", "in"]), ["a", "c"])
        self.assertEqual(self.call("list"), ["b"])

    def test_clear(self):
        self.assertEqual(self.call("clear"), [0, "OK"])
        self.assertEqual(self.call("list"), [])

    def test_clearFinished(self):
        self.call("markFinished", "a")
        self.assertEqual(self.call("clearFinished"), [0, "OK"])
        self.assertEqual(self.call("list"), ["b", "c"])


class CounterTests(InterfaceTestCase):
    def test_incDecAddCount(self):
        self.assertEqual(self.call("inc", "calls", "failed"), [0, "OK"])
        self.call("inc", "calls", "failed")
        self.call("dec", "calls", "failed")
        self.call("addCount", "calls", "failed", 10)
        self.assertEqual(self.call("getCount", "calls", "failed"), [11])
        self.assertEqual(self.call("get", "calls"), [{"failed": 11}])

    def test_addCountBad(self):
        e = self.fails("addCount", "calls", "failed", "ten")
        self.assertIn("must be an integer", e.message)
        self.fails("inc", "calls")

    def test_samples(self):
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

    def test_samplesBad(self):
        self.fails("addSample", "rate")
        self.fails("addSample", "rate", "in", "many")
        self.fails("getCount", "rate", "in", "long")
        self.fails("getAllCounts")
