"""donkeysm-run --trace: every transition with its file:line, the event and what it changed."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout

from twisted.trial import unittest

from donkey.dsm.cli import run_main
from test.dsm.helpers import write_scripts

HERE = os.path.dirname(os.path.abspath(__file__))
QUIZ = os.path.normpath(os.path.join(HERE, "..", "..", "conf", "dsm", "quizconnect"))

SCRIPT = """\
initial state START;
transition "go" START - sessionStart / set($a=1) -> MENU;
state MENU enter { set($entered=yes) };
transition "pressed" MENU - key(#key<10) / {
  set($last=#key);
  clear($entered);
} -> MENU;
transition "bye" MENU - hangup -> END;
state END;
"""


def run(*args: str) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_main(list(args))
    return code, out.getvalue().splitlines(), err.getvalue()


class TraceTests(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = write_scripts(self, app=SCRIPT)
        self.script = os.path.join(self.dir, "app.dsm")
        self.events = os.path.join(self.dir, "events")
        with open(self.events, "w") as f:
            f.write("key 7\nhangup\n")

    def trace(self, *extra: str) -> list[str]:
        code, lines, err = run(self.script, "--call", "--events", self.events, *extra)
        self.assertEqual((code, err), (0, ""))
        return [line[len("trace:   ") :] for line in lines if line.startswith("trace:")]

    def test_each_transition_with_location_event_and_changes(self) -> None:
        """Each transition taken is one line: file:line, from -> to, its name, event, changes."""
        self.assertEqual(
            self.trace("--trace"),
            [
                f"{self.script}:2: START -> MENU \"go\" on sessionStart; $a='1', $entered='yes'",
                f"{self.script}:4: MENU -> MENU \"pressed\" on key(key=7 duration=100); $last='7'",
                f'{self.script}:8: MENU -> END "bye" on hangup',
            ],
        )

    def test_cleared_variable_is_shown(self) -> None:
        """A variable a transition removes (and its enter actions do not set again) shows as unset."""
        script = SCRIPT.replace("state MENU enter { set($entered=yes) };", "state MENU;")
        script = script.replace("set($a=1) -> MENU;", "set($entered=yes) -> MENU;")
        with open(self.script, "w") as f:
            f.write(script)
        lines = self.trace("--trace")
        self.assertIn("$entered unset", lines[1])
        self.assertIn("$last='7'", lines[1])

    def test_no_trace_without_the_flag(self) -> None:
        """Without --trace the output has no trace lines."""
        self.assertEqual(self.trace(), [])

    def test_quizconnect_callee(self) -> None:
        """The quizconnect callee script's PIN entry is traced key by key with $entered_pin."""
        events = os.path.join(self.dir, "pin")
        with open(events, "w") as f:
            f.write("key 3\nkey 5\n")
        code, lines, err = run(
            os.path.join(QUIZ, "quizconnect_callee.dsm"),
            "--call",
            "--trace",
            "--events",
            events,
            "--var",
            "pin=35",
            "--config",
            f"prompt_path={os.path.join(QUIZ, 'prompts')}",
        )
        self.assertEqual(code, 0, err)
        trace = [line for line in lines if line.startswith("trace:")]
        callee = os.path.join(QUIZ, "quizconnect_callee.dsm")
        self.assertIn(
            f'{callee}:6: START -> ENTER_PIN "session starts in callee leg" on sessionStart',
            trace[1],
        )
        self.assertIn('ENTER_PIN -> TEST_PIN "pressed a number" on key(key=3', trace[2])
        self.assertIn("$entered_pin='3'", trace[2])
        self.assertIn("$entered_pin='35'", trace[4])
        self.assertIn('TEST_PIN -> MATCHING_PIN "pin matches"', trace[5])
