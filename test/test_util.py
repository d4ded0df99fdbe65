"""The test infrastructure itself: waiting, the CI rule, the sipp scenario builder."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from twisted.internet import defer, task
from twisted.trial import unittest

from test import sipp
from test.util import service_missing, wait_until


class WaitUntilTests(unittest.TestCase):
    def test_returns_the_first_truthy_value(self):
        """wait_until ends as soon as the predicate holds and hands back its value."""
        clock = task.Clock()
        values = iter([0, None, "ready"])
        d = defer.ensureDeferred(wait_until(lambda: next(values), 5, "x", 0.1, clock))
        clock.advance(0.1)
        self.assertNoResult(d)
        clock.advance(0.1)
        self.assertEqual(self.successResultOf(d), "ready")

    def test_timeout_names_what_and_the_last_value(self):
        """A wait that times out fails naming what was awaited and the last value seen."""
        clock = task.Clock()
        d = defer.ensureDeferred(wait_until(lambda: [], 1, "the callee's BYE", 0.25, clock))
        clock.pump([0.25] * 4)
        failure = self.failureResultOf(d, AssertionError)
        self.assertIn("the callee's BYE", str(failure.value))
        self.assertIn("last: []", str(failure.value))

    def test_async_predicate(self):
        """An async predicate is awaited on each poll."""
        clock = task.Clock()
        calls = []

        async def check():
            calls.append(1)
            return len(calls) >= 2

        d = defer.ensureDeferred(wait_until(check, 5, "x", 0.5, clock))
        clock.advance(0.5)
        self.assertTrue(self.successResultOf(d))


class ServiceMissingTests(unittest.TestCase):
    def test_skips_outside_ci(self):
        """Without CI=true a missing service skips the test with its reason."""
        self.patch(os, "environ", {})
        e = self.assertRaises(unittest.SkipTest, service_missing, "no MariaDB")
        self.assertEqual(str(e), "no MariaDB")

    def test_fails_under_ci(self):
        """Under CI=true a missing service fails the test instead of skipping it."""
        self.patch(os, "environ", {"CI": "true"})
        e = self.assertRaises(AssertionError, service_missing, "no MariaDB")
        self.assertIn("no MariaDB", str(e))


class ScenarioBuilderTests(unittest.TestCase):
    NAMES = [
        "uac_answer_bye.xml",
        "uac_cancel.xml",
        "uac_early_media.xml",
        "uac_expect_404.xml",
        "uac_expect_503.xml",
        "uac_hold_call.xml",
        "uac_hold_resume.xml",
        "uac_info_reply_408.xml",
        "uac_info_reply_481.xml",
        "uac_info_request.xml",
        "uac_st_timeout.xml",
        "uac_st_uas_refresh.xml",
        "uac_wait_bye.xml",
        "uas_auth.xml",
    ]

    def test_every_shared_scenario_is_well_formed_xml(self):
        """Each shared scenario name builds a sipp scenario that parses as XML."""
        for name in self.NAMES:
            root = ET.fromstring(sipp.named(name).xml().split("\n", 2)[2])
            self.assertEqual(root.tag, "scenario", name)
            self.assertTrue(root.findall("send") and root.findall("recv"), name)

    def test_expected_final_code_is_the_one_awaited(self):
        """uac_expect_NNN waits for exactly that final code and ACKs it in the INVITE's transaction."""
        root = ET.fromstring(sipp.named("uac_expect_486").xml().split("\n", 2)[2])
        codes = [r.get("response") for r in root.findall("recv")]
        self.assertEqual(codes, ["100", "486"])
        self.assertIn("[last_Via:]", root.findall("send")[-1].text or "")

    def test_cseq_numbers_follow_the_dialog(self):
        """Re-INVITEs, INFO and BYE of one caller carry increasing CSeq numbers."""
        text = sipp.named("uac_hold_resume").xml()
        for n, method in enumerate(["INVITE", "INVITE", "INVITE", "INFO", "BYE"], 1):
            self.assertIn(f"CSeq: {n} {method}", text)

    def test_unknown_name_is_refused(self):
        """A scenario name the builder does not know is a KeyError naming it."""
        e = self.assertRaises(KeyError, sipp.named, "uac_dance.xml")
        self.assertIn("uac_dance.xml", str(e))

    def test_scenario_file_never_overwrites(self):
        """Writing the same scenario twice into one directory gives two files."""
        d = self.mktemp()
        first = sipp.scenario_file("uac_answer_bye.xml", d)
        second = sipp.scenario_file("uac_answer_bye.xml", d)
        self.assertNotEqual(first, second)
        self.assertTrue(os.path.exists(first) and os.path.exists(second))
