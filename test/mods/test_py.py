"""mod_py as a script sees it: Python snippets reading and writing the session."""

from __future__ import annotations

import os

from twisted.trial import unittest

from donkey.dsm.errors import CompileError
from donkey.dsm.harness import Harness, HarnessSession


class PyCase(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.h = Harness()

    def load(self, script: str, **conf: str) -> None:
        with open(os.path.join(self.dir, "t.dsm"), "w") as f:
            f.write("import(mod_py);\n" + script)
        self.h.load("main", {"diag_path": self.dir, "load_diags": "t", **conf})

    def run_body(
        self, body: str, variables: dict[str, str] | None = None, extra: str = ""
    ) -> HarnessSession:
        self.load(
            "initial state A;\n"
            f'transition "go" A - sessionStart / {{\n{body}\n}} -> B;\nstate B;\n{extra}'
        )
        return self.h.call("t", variables=variables)


class Actions(PyCase):
    def test_var_and_setvar(self):
        """py() code reads a variable with session.var and writes one with session.setvar."""
        s = self.run_body("py(session.setvar('out', session.var('in') + '!'))", {"in": "hello"})
        self.assertEqual(s.vars["out"], "hello!")

    def test_setvar_stores_text(self):
        """session.setvar stores any value as text, as DSM variables are."""
        s = self.run_body("py(session.setvar('n', 6 * 7))")
        self.assertEqual(s.vars["n"], "42")

    def test_var_creates_missing_variable_like_sems(self):
        """session.var of a missing variable returns '' and creates it, as in SEMS."""
        s = self.run_body("py(session.setvar('got', repr(session.var('missing'))))")
        self.assertEqual((s.vars["got"], s.vars["missing"]), ("''", ""))

    def test_multi_line_code_in_sems_style(self):
        """Multi-line py(# ...) blocks run, and the next action follows."""
        s = self.run_body(
            "py(#\n"
            "def double(x):\n"
            "    return session.var(x) * 2\n"
            "session.setvar('d', double('v'))\n"
            ")\n"
            "set($after=1);",
            {"v": "ab"},
        )
        self.assertEqual((s.vars["d"], s.vars["after"]), ("abab", "1"))

    def test_indented_code_is_dedented(self):
        """Indented py() code is dedented before it runs."""
        s = self.run_body(
            "  py(\n      x = 1\n      if x:\n          session.setvar('x', 'yes')\n  )"
        )
        self.assertEqual(s.vars["x"], "yes")

    def test_names_persist_within_a_session_only(self):
        """Python names set in one py() persist for that call only, not into the next call."""
        self.load(
            "initial state A;\n"
            'transition "one" A - sessionStart / { py(counter = 41) } -> B;\n'
            "state B;\n"
            'transition "two" B - event / {\n'
            "  py(counter += 1; session.setvar('c', counter))\n"
            "} -> B;\n"
        )
        first = self.h.call("t")
        first.event()
        self.assertEqual(first.vars["c"], "42")
        first.event()
        self.assertEqual(first.vars["c"], "43")
        second = self.h.call("t")
        second.event()
        self.assertEqual(second.vars["c"], "42")

    def test_type_and_params(self):
        """py() code sees the event type (dsm.Timer) and its params."""
        s = self.run_body(
            "setTimer(7, 1);",
            extra='transition "t" B - timer / {\n'
            "  py(session.setvar('t', str(type == dsm.Timer)); "
            "session.setvar('id', params['id']))\n"
            "} -> C;\nstate C;\n",
        )
        self.h.advance(1)
        self.assertEqual((s.vars["t"], s.vars["id"]), ("True", "7"))

    def test_python_error_is_logged_and_the_script_goes_on(self):
        """A Python exception in py() is logged as an error and the script goes on."""
        s = self.run_body("py(1 / 0)\nset($after=1);")
        self.assertEqual(s.vars["after"], "1")
        self.assertEqual(s.path, ["A", "B"])
        self.assertTrue(any("ZeroDivisionError" in line for line in self.h.errors()))

    def test_syntax_error_is_a_compile_error(self):
        """Python that does not compile makes the script fail to load."""
        self.assertRaises(CompileError, self.run_body, "py(def broken(:)")
        self.assertRaises(
            CompileError, self.load, 'initial state A;\ntransition "x" A - py(1 +) / -> A;\n'
        )

    def test_dsm_logging(self):
        """dsm.INFO and dsm.log write to the log; level 0 counts as an error."""
        s = self.run_body("py(dsm.INFO('hello dsm-world\\n'); dsm.log(0, 'bad thing'))")
        self.assertIn("hello dsm-world", s.record.logs)
        self.assertIn("bad thing", s.record.logs)
        self.assertEqual(self.h.errors(), ["bad thing"])

    def test_select_and_set_error(self):
        """session.select reads call properties; session.setError sets $errno."""
        s = self.run_body(
            "py(session.setvar('lt', session.select('local_tag'))); "
            "py(session.setvar('user', session.select('user'))); "
            "py(session.setError(3))"
        )
        self.assertEqual(s.vars["lt"], s.session.ltag)
        self.assertEqual(s.vars["errno"], "3")

    def test_play_file_and_catching_runtime_error(self):
        """session.playFile plays a file; a missing one is a RuntimeError the code can catch."""
        wav = os.path.join(self.dir, "hello.wav")
        open(wav, "wb").close()
        s = self.run_body(
            "py(#\n"
            "session.playFile(session.var('wav'))\n"
            "try:\n"
            "    session.playFile('/nonexistent.wav')\n"
            "except RuntimeError as e:\n"
            "    session.setvar('exception', str(e))\n"
            ")",
            {"wav": wav},
        )
        self.assertEqual(s.record.played, [wav])
        self.assertEqual(s.vars["exception"], "file")

    def test_media_methods_reach_the_media_handle(self):
        """session.mute, addSeparator and getRecordLength reach the call's media."""
        s = self.run_body(
            "py(session.mute(); session.addSeparator('5'); "
            "session.setvar('len', str(session.getRecordLength())))"
        )
        self.assertEqual(s.record.media_calls, [("mute",), ("add_separator", "5", False)])
        self.assertEqual(s.vars["len"], "0")

    def test_media_in_a_system_dsm_is_a_runtime_error(self):
        """Media calls from a system DSM raise RuntimeError 'core'."""
        self.load(
            "initial state A;\n"
            'transition "go" A - startup / {\n'
            "  py(#\ntry:\n    session.playFile('x.wav')\nexcept RuntimeError as e:\n"
            "    session.setvar('e', str(e))\n)\n"
            "} -> B;\nstate B;\n"
        )
        s = self.h.system("t")
        self.assertEqual(s.vars["e"], "core")


class Conditions(PyCase):
    def test_condition_chooses_the_transition(self):
        """A py() condition picks the transition whose Python expression is true."""
        s = self.run_body(
            "repost();",
            {"n": "5"},
            extra='transition "big" B - py(int(session.var("n")) > 3) / -> BIG;\n'
            'transition "small" B - / -> SMALL;\n'
            "state BIG;\nstate SMALL;\n",
        )
        self.assertEqual(s.path, ["A", "B", "BIG"])

    def test_condition_false_int_and_errors(self):
        """py() conditions follow Python truth; a failing expression counts as false."""
        s = self.run_body(
            "if py(params.get('nope') is None) { set($a=1); } else { set($a=0); }\n"
            "if py(0) { set($b=1); } else { set($b=0); }\n"
            "if py(7) { set($c=1); } else { set($c=0); }\n"
            "if py(undefined_name) { set($d=1); } else { set($d=0); }\n"
            "if py('text') { set($e=1); } else { set($e=0); }\n"
            "if not py(False) { set($f=1); } else { set($f=0); }"
        )
        self.assertEqual([s.vars[k] for k in "abcdef"], ["1", "0", "1", "0", "0", "1"])

    def test_key_condition_like_the_sems_example(self):
        """The SEMS example's key condition matches key 1 and not key 2."""
        s = self.run_body(
            "",
            extra='transition "key 1" B - py(type == dsm.Key and params["key"] == "1") / '
            "{ set($pressed=1); } -> C;\nstate C;\n",
        )
        s.key(2)
        self.assertNotIn("pressed", s.vars)
        s.key(1)
        self.assertEqual((s.vars["pressed"], s.state), ("1", "C"))

    def test_preloading_is_accepted(self):
        """preload_mods=mod_py is accepted and py() still works."""
        s = self.run_body("py(session.setvar('ok', '1'))")
        self.assertEqual(s.vars["ok"], "1")
        h = Harness()
        h.load("main", {"diag_path": self.dir, "load_diags": "t", "preload_mods": "mod_py"})
        self.assertEqual(h.call("t").vars["ok"], "1")
