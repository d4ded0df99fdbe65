"""Tests for :mod:`donkey.common.saferegex`: patterns from strangers cannot stall the reactor."""

from __future__ import annotations

import threading
import time

from twisted.trial import unittest

from donkey.common import saferegex
from donkey.common.saferegex import RegexError, RegexTimeout


class LinearTime(unittest.TestCase):
    def test_catastrophic_pattern_answers_at_once(self) -> None:
        """``^(a+)+$`` over 28 and over 10,000 characters answers no match at once."""
        rx = saferegex.compile("^(a+)+$")
        self.assertEqual(rx.engine, "re2")
        for length in (28, 10_000):
            started = time.monotonic()
            self.assertIsNone(rx.search("a" * length + "b"))
            self.assertLess(time.monotonic() - started, 0.5)

    def test_groups_and_end_anchor(self) -> None:
        """Groups that took no part are None, and Python's ``\\Z`` means end of text."""
        m = saferegex.compile(r"(a)|(b)\Z").search("xb")
        assert m is not None
        self.assertEqual(m.groups(), (None, "b"))
        self.assertIsNone(saferegex.compile(r"b\Z").search("b\n"))
        self.assertIsNotNone(saferegex.compile(r"\\Z").search("\\Z"))

    def test_flags(self) -> None:
        """dotall lets ``.`` match a newline; ignorecase ignores case."""
        self.assertIsNone(saferegex.compile("a.b").search("a\nb"))
        self.assertIsNotNone(saferegex.compile("a.b", dotall=True).search("a\nb"))
        self.assertIsNotNone(saferegex.compile("AB", ignorecase=True).fullmatch("ab"))

    def test_invalid_pattern(self) -> None:
        """A pattern no engine compiles is a RegexError."""
        self.assertRaises(RegexError, saferegex.compile, "(")


class Fallback(unittest.TestCase):
    def test_backreference_falls_back_and_matches(self) -> None:
        """A back-reference, which RE2 lacks, still matches through the fallback."""
        rx = saferegex.compile(r"(a)\1")
        self.assertEqual(rx.engine, "re")
        self.assertIsNotNone(rx.search("xaa"))
        self.assertIsNone(rx.search("xab"))

    def test_fallback_refused_when_not_allowed(self) -> None:
        """Without fallback a back-reference is refused with the reason."""
        with self.assertRaises(RegexError) as caught:
            saferegex.compile(r"(a)\1", fallback=False)
        self.assertIn("exponential", str(caught.exception))

    def test_catastrophic_fallback_is_stopped(self) -> None:
        """A backtracking blow-up in the fallback is stopped after its time limit."""
        rx = saferegex.compile(r"^(a+)+\1$", time_limit=0.05)
        started = time.monotonic()
        self.assertRaises(RegexTimeout, rx.search, "a" * 40 + "b")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertIsNotNone(rx.search("aa"))  # the next match runs normally

    def test_fallback_off_the_main_thread_is_refused(self) -> None:
        """Off the main thread a fallback match cannot be timed, so it is refused."""
        rx = saferegex.compile(r"(a)\1")
        raised: list[BaseException] = []

        def run() -> None:
            try:
                rx.search("aa")
            except RegexTimeout as e:
                raised.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(5)
        self.assertEqual(len(raised), 1)
