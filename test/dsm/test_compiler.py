"""The compiler reads scripts as SEMS does and reports problems as file:line:col."""

import os

from twisted.trial import unittest

from donkey.dsm.compiler import Compiler, source_from_text, tokenize
from donkey.dsm.core import core
from donkey.dsm.diagram import ForLoop, IfBlock
from donkey.dsm.errors import CompileError, CompileErrors
from donkey.dsm.loader import ModuleLoader
from test.dsm.helpers import write_scripts


def compiler():
    loader = ModuleLoader()
    return Compiler(core, lambda name, at: loader.load(name, "", at))


def problems(error):
    return [str(e) for e in (error.errors if isinstance(error, CompileErrors) else [error])]


class TokenizerTests(unittest.TestCase):
    def tokens(self, text):
        return [t.text for t in tokenize(source_from_text(text))]

    def test_parentheses_and_quotes_group(self):
        """A ';' inside an action's parentheses or quotes does not end the action."""
        self.assertEqual(
            self.tokens('dlg.acceptInvite(183, Session Progress); log(2, "a; b")'),
            ["dlg.acceptInvite(183, Session Progress)", ";", 'log(2, "a; b")'],
        )

    def test_quoted_token_loses_quotes(self):
        """A quoted transition name is one token, without its quotes."""
        self.assertEqual(
            self.tokens('transition "got INVITE" A - invite -> B;'),
            ["transition", "got INVITE", "A", "-", "invite", "->", "B", ";"],
        )

    def test_source_states_in_parentheses_are_one_token(self):
        """A parenthesised list of source states stays one token."""
        self.assertIn(
            "(START, RUN_INVITE, ENTER_PIN)",
            self.tokens('transition "x" (START, RUN_INVITE, ENTER_PIN) - y -> Z;'),
        )

    def test_whole_line_comments_are_dropped(self):
        """Lines starting with -- or # are comments and produce no tokens."""
        self.assertEqual(self.tokens("-- a comment ;\n  # another\nstate A;"), ["state", "A", ";"])


class CompileTests(unittest.TestCase):
    def test_missing_semicolons_between_actions_on_separate_lines(self):
        """Actions on separate lines compile in order even without ';' between them."""
        diagram = compiler().compile_text(
            "initial state A enter {\n  throwOnError()\n  sets($x=$(y)/z.wav)\n  set($y=1);\n};\n"
        )
        names = [a.spec.name for a in diagram.states["A"].enter]
        self.assertEqual(names, ["throwOnError", "sets", "set"])

    def test_transition_forms(self):
        """Every transition form SEMS accepts (-->, bare action, braces, not, exception) compiles."""
        diagram = compiler().compile_text(
            "initial state A; state B;\n"
            'transition "no conds" A --> B;\n'
            'transition "bare action" A - startup / set($a=1) -> B;\n'
            'transition "braces" A - { startup; not test($x == 1) } / { set($a=1); } -> B;\n'
            'transition "exc" (A, B) - exception; test(#type == file) / stop(false) -> B;\n'
        )
        a = diagram.states["A"]
        self.assertEqual(
            [t.name for t in a.transitions], ["no conds", "bare action", "braces", "exc"]
        )
        self.assertEqual(a.transitions[0].conditions, ())
        self.assertTrue(a.transitions[2].conditions[1].invert)
        self.assertTrue(a.transitions[3].is_exception)
        self.assertEqual([t.name for t in diagram.states["B"].transitions], ["exc"])

    def test_if_else_for_and_functions_compile_to_blocks(self):
        """if/else, for over a range or struct, and inlined functions compile to blocks."""
        diagram = compiler().compile_text(
            "function f() { inc($n); };\n"
            "initial state A enter {\n"
            "  if test($a == 1) { f(); } else { set($b=2); }\n"
            "  for ($i in range(0, 3)) { f(); }\n"
            "  for ($k,$v in st) { log(1, $k); }\n"
            "};\n"
        )
        enter = diagram.states["A"].enter
        self.assertIsInstance(enter[0], IfBlock)
        self.assertEqual(enter[0].then[0].spec.name, "inc")  # function inlined
        self.assertIsInstance(enter[1], ForLoop)
        self.assertEqual(
            (enter[1].kind, enter[1].key, enter[1].value, enter[1].source), ("range", "i", "0", "3")
        )
        self.assertEqual((enter[2].kind, enter[2].key, enter[2].value), ("struct", "k", "v"))

    def test_include_file_directory_and_dsm_suffix(self):
        """#include pulls in a file (with or without .dsm) and every script of a directory."""
        d = write_scripts(self, main='#include "part"\n#include "sub"\ninitial state A;\n')
        os.mkdir(os.path.join(d, "sub"))
        with open(os.path.join(d, "part.dsm"), "w") as f:
            f.write("state P;\n")
        with open(os.path.join(d, "sub", "q.dsm"), "w") as f:
            f.write("state Q;\n")
        diagram = compiler().compile_file(os.path.join(d, "main.dsm"))
        self.assertEqual(set(diagram.states), {"P", "Q", "A"})

    def test_error_location_points_into_the_included_file(self):
        """An error in an included file is reported at that file's line and column."""
        d = write_scripts(self, main='initial state A;\n#include "bad.dsm"\n')
        with open(os.path.join(d, "bad.dsm"), "w") as f:
            f.write("state B\n  enter { nosuch(1); };\n")
        with self.assertRaises(CompileError) as cm:
            compiler().compile_file(os.path.join(d, "main.dsm"))
        self.assertEqual(
            problems(cm.exception), [f"{d}/bad.dsm:2:11: unknown action 'nosuch' (missing import?)"]
        )

    def test_syntax_error_has_line_and_column(self):
        """A missing '->' is reported with file, line, column and what was expected."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text(
                'initial state A;\ntransition "t" A - startup B;\n', file="x.dsm"
            )
        self.assertEqual(
            str(cm.exception),
            "x.dsm:2:30: unexpected end of script: "
            "expected conditions, '/' or '->' in transition 't'",
        )

    def test_unterminated_quote(self):
        """An unterminated quote is reported where the quote opens."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text('initial state A enter {\n  log(1, "oops);\n};\n', file="q.dsm")
        self.assertEqual(str(cm.exception), 'q.dsm:2:10: unterminated " quote')

    def test_consistency_problems_are_all_reported(self):
        """Every consistency error is listed, and an unknown target state as a warning (SEMS loads it)."""
        c = compiler()
        with self.assertRaises(CompileError) as cm:
            c.compile_text(
                "state A;\ninitial state B;\ninitial state C;\n"
                'transition "t" A - startup -> NOWHERE;\n'
                'transition "u" MISSING - startup -> A;\n',
                file="c.dsm",
            )
        self.assertEqual(
            problems(cm.exception),
            [
                "c.dsm:3:15: second initial state 'C' (initial state is 'B')",
                "c.dsm:5:16: transition 'u': source state 'MISSING' is not defined (yet)",
            ],
        )
        self.assertEqual(
            [str(w) for w in c.warnings],
            [
                "c.dsm:4:12: warning: transition 't' leads to unknown state 'NOWHERE': "
                "taking it runs its actions and stays in state 'A'"
            ],
        )

    def test_no_initial_state(self):
        """A diagram without an initial state does not compile and says so."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text("state A;\n", name="d", file="d.dsm")
        self.assertEqual(str(cm.exception), "d.dsm:1:7: diagram 'd' has no initial state")

    def test_unknown_module(self):
        """import() of a module that does not exist is a compile error naming it."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text("import(mod_nonexistent);\ninitial state A;\n", file="m.dsm")
        self.assertTrue(
            str(cm.exception).startswith("m.dsm:1:1: module 'mod_nonexistent' not found")
        )

    def test_module_actions_need_import(self):
        """A module's action is unknown until the script imports that module."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text("initial state A enter { dlg.bye(); };\n", file="i.dsm")
        self.assertEqual(
            str(cm.exception), "i.dsm:1:25: unknown action 'dlg.bye' (missing import?)"
        )
        compiler().compile_text("import(mod_dlg);\ninitial state A enter { dlg.bye(); };\n")

    def test_bad_test_expression_is_a_warning(self):
        """A test() without a comparison loads as in SEMS, with a warning at its place."""
        c = compiler()
        c.compile_text("initial state A;\ntransition t A - test($a) -> A;\n", file="t.dsm")
        self.assertEqual(
            [str(w) for w in c.warnings],
            [
                "t.dsm:2:18: warning: expression '$a' not understood: "
                "expected ==, !=, < or >; the condition never matches"
            ],
        )

    def test_two_parameter_action_needs_both(self):
        """set() with one parameter is a compile error saying it expects two."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text("initial state A enter { set($a); };\n", file="s.dsm")
        self.assertIn("s.dsm:1:25: set() expects two parameters", str(cm.exception))


class QuizconnectCompileTests(unittest.TestCase):
    """The tutorial's scripts, assembled from the seed, compile as they are."""

    def test_callee_and_caller_compile(self):
        """The seed's quizconnect caller and callee scripts compile with every state the tutorial names."""
        here = os.path.dirname(os.path.abspath(__file__))
        base = os.path.join(here, "..", "..", "conf", "dsm", "quizconnect")
        c = compiler()
        callee = c.compile_file(os.path.join(base, "quizconnect_callee.dsm"))
        self.assertEqual(callee.initial, "START")
        caller = c.compile_file(os.path.join(base, "quizconnect_caller.dsm"))
        self.assertEqual(
            set(caller.states),
            {
                "START",
                "RUN_INVITE",
                "CREATE_CALLEE_LEGS",
                "WAIT_CALLEE",
                "CANCEL_CALLEES",
                "CANCEL_OTHER_CALLEES",
                "CONNECTED",
                "END",
            },
        )


class IncludeNameTests(unittest.TestCase):
    def test_include_of_a_name_with_a_nul_byte_is_a_compile_error(self):
        """#include of a name holding a NUL byte is a file:line:col error, not a crash."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text('#include "a\x00b"\ninitial state A;\n', file="n.dsm")
        self.assertIn("n.dsm:1:", str(cm.exception))
        self.assertIn("is not a file name", str(cm.exception))
