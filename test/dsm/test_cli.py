"""donkeysm-check and donkeysm-run, as a user runs them."""

import os
import shutil
import subprocess
import sys

from twisted.trial import unittest

from test.dsm.helpers import write_scripts

HERE = os.path.dirname(os.path.abspath(__file__))
QUIZ = os.path.normpath(os.path.join(HERE, "..", "..", "conf", "dsm", "quizconnect"))


def run(command, *args):
    exe = shutil.which(command)
    if exe is None:
        entry = {"donkeysm-check": "check_main", "donkeysm-run": "run_main"}[command]
        argv = [
            sys.executable,
            "-c",
            f"import sys; from donkey.dsm.cli import {entry}; sys.exit({entry}())",
        ]
    else:
        argv = [exe]
    return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)


class CheckTests(unittest.TestCase):
    def test_good_scripts_are_silent(self):
        """donkeysm-check on the quizconnect scripts prints nothing and exits 0."""
        result = run(
            "donkeysm-check",
            os.path.join(QUIZ, "quizconnect_caller.dsm"),
            os.path.join(QUIZ, "quizconnect_callee.dsm"),
        )
        self.assertEqual((result.returncode, result.stdout, result.stderr), (0, "", ""))

    def test_problems_are_listed_with_locations(self):
        """donkeysm-check prints each error, then each warning, as file:line:col, and exits 1."""
        d = write_scripts(
            self,
            bad="initial state A;\nstate B enter { nosuch(); };\n"
            'transition "t" A - startup -> C;\n',
        )
        result = run("donkeysm-check", os.path.join(d, "bad.dsm"))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stdout.splitlines(),
            [
                f"{d}/bad.dsm:2:17: unknown action 'nosuch' (missing import?)",
                f"{d}/bad.dsm:3:12: warning: transition 't' leads to unknown state 'C': "
                "taking it runs its actions and stays in state 'A'",
            ],
        )

    def test_warnings_alone_pass_unless_strict(self):
        """A script SEMS would load with warnings passes the check; --strict makes it fail."""
        d = write_scripts(self, warn='initial state A;\ntransition "t" A - startup -> C;\n')
        path = os.path.join(d, "warn.dsm")
        result = run("donkeysm-check", path)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(len(result.stdout.splitlines()), 1)
        self.assertIn(f"{path}:2:12: warning:", result.stdout)
        self.assertEqual(run("donkeysm-check", "--strict", path).returncode, 1)

    def test_mod_path_finds_user_modules(self):
        """A script importing the user's own module fails the check until --mod-path names its folder."""
        d = write_scripts(
            self, uses="import(mod_mine);\ninitial state A enter { mine.hello(); };\n"
        )
        mods = os.path.join(d, "mods")
        os.mkdir(mods)
        with open(os.path.join(mods, "mod_mine.py"), "w") as f:
            f.write(
                "from donkey.dsm.module import Module\nmodule = Module('mod_mine')\n"
                "@module.action('mine.hello')\ndef hello(s, e, a):\n    s.vars['hi'] = '1'\n"
            )
        self.assertEqual(run("donkeysm-check", os.path.join(d, "uses.dsm")).returncode, 1)
        result = run("donkeysm-check", "--mod-path", mods, os.path.join(d, "uses.dsm"))
        self.assertEqual((result.returncode, result.stdout), (0, ""))


class RunTests(unittest.TestCase):
    def test_runs_a_call_against_scripted_events(self):
        """donkeysm-run plays scripted events into a call and prints the states, replies and variables."""
        d = write_scripts(
            self,
            menu="""
            import(mod_dlg);
            initial state START;
            transition "invite" START - invite / dlg.acceptInvite(183, Ringing) -> MENU;
            transition "started" START - sessionStart -> MENU;
            state MENU;
            transition "one" MENU - keyPress(1) / { set($choice=one); setTimer(1, 1); } -> DONE;
            state DONE;
            transition "timeout" DONE - timer(#id == 1) -> END;
            state END;
            """,
        )
        events = os.path.join(d, "events.txt")
        with open(events, "w") as f:
            f.write("# press 1\nkey 1\nadvance 2\n")
        result = run(
            "donkeysm-run",
            "--call",
            "--user",
            "35",
            os.path.join(d, "menu.dsm"),
            "--events",
            events,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("path:    START -> MENU -> START -> MENU -> DONE -> END", result.stdout)
        self.assertIn("reply:   183 Ringing", result.stdout)
        self.assertIn("  $choice='one'", result.stdout)

    def _run_menu(self, events_text):
        d = write_scripts(
            self,
            menu="""
            initial state START;
            transition "started" START - sessionStart / log(2, "menu is up") -> MENU;
            state MENU;
            transition "hash" MENU - keyPress(11) / set($hash=yes) -> MENU;
            transition "one" MENU - keyPress(1) / throw(nomatch) -> MENU;
            """,
        )
        events = os.path.join(d, "events.txt")
        with open(events, "w") as f:
            f.write(events_text)
        result = run("donkeysm-run", "--call", os.path.join(d, "menu.dsm"), "--events", events)
        return d, events, result

    def test_log_lines_and_exceptions_are_printed_with_their_location(self):
        """The script's log() text shows, and a throw() names file:line:col and its #type."""
        d, _, result = self._run_menu("key 1\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("log:     FSM:  'menu is up'", result.stdout)
        self.assertIn(
            f"exception: {d}/menu.dsm:6:39: throw(nomatch) threw type=nomatch", result.stdout
        )

    def test_hash_key_is_a_key_not_a_comment(self):
        """An events line 'key #' presses the hash key (it used to crash)."""
        _, _, result = self._run_menu("key #   # the hash key\n# a comment line\n")
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertIn("  $hash='yes'", result.stdout)

    def test_bad_events_line_names_file_and_line(self):
        """An unknown event or a bad key is reported as file:line:col, exit status 2."""
        _, events, result = self._run_menu("key 1\nwobble\n")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(
            result.stderr.strip(), f"{events}:2:1: unknown event 'wobble' (see --help-events)"
        )
        _, events, result = self._run_menu("key X\n")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.strip(), f"{events}:1:1: not a DTMF key: 'X'")

    def test_help_events_describes_the_events_file(self):
        """--help-events, which --help points to, exists and lists the event lines."""
        result = run("donkeysm-run", "--help-events")
        self.assertEqual(result.returncode, 0, result.stderr)
        for line in ("key #", "advance 5", "answer", "hangup"):
            self.assertIn(line, result.stdout)
        self.assertIn("--help-events", run("donkeysm-run", "--help").stdout)
