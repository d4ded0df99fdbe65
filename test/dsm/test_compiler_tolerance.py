"""What SEMS loads in spite of a mistake loads here too: with a warning, and running as in SEMS."""

from __future__ import annotations

from typing import Any

from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial import unittest

from donkey.dsm.compiler import Compiler, CompileWarning
from donkey.dsm.core import core
from donkey.dsm.errors import CompileError, Location
from donkey.dsm.loader import ModuleLoader
from test.dsm.helpers import harness_with


def compiler() -> Compiler:
    loader = ModuleLoader()
    return Compiler(core, lambda name, at: loader.load(name, "", at))


def warnings_of(text: str, file: str = "w.dsm") -> list[str]:
    """Compile ``text``; the warnings as a checker prints them."""
    c = compiler()
    c.compile_text(text, file=file)
    return [str(w) for w in c.warnings]


class EmptyValueTests(unittest.TestCase):
    def test_set_to_an_empty_quoted_string_loads_without_warning(self) -> None:
        """``set($x="")``, ``set($x = "")`` and ``set($x='')`` load silently, as in SEMS's examples."""
        for text in ('set($x="")', 'set($x = "")', "set($x='')", 'sets($x = "")'):
            self.assertEqual(
                warnings_of(f"initial state A enter {{ {text}; }};\n"), [], f"warnings for {text}"
            )

    def test_set_to_an_empty_quoted_string_empties_the_variable(self) -> None:
        """A script that empties ``$pin`` with ``set($pin = "")`` sees it empty afterwards."""
        h = harness_with(
            self,
            s="""\
            initial state A enter { set($pin=1234); set($pin = ""); set($other=""); };
            """,
        )
        leg = h.system("s")
        self.assertEqual((leg.vars["pin"], leg.vars["other"]), ("", ""))
        self.assertEqual(h.errors(), [])

    def test_missing_value_is_still_an_error(self) -> None:
        """``set($x=)`` (nothing at all after ``=``) still fails to load, with its location."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text("initial state A enter { set($x=); };\n", file="e.dsm")
        self.assertEqual(
            str(cm.exception),
            "e.dsm:1:25: set() expects two parameters separated with '=', got '$x='",
        )


class UnknownTargetTests(unittest.TestCase):
    SCRIPT = (
        "initial state A;\n"
        'transition "lost" A - test($go == 1) / set($ran=1) -> NOWHERE;\n'
        'transition "fine" A - test($go == 2) -> B;\n'
        "state B;\n"
    )

    def test_loads_with_a_warning(self) -> None:
        """A transition to an undefined state loads; the checker warns at the transition."""
        self.assertEqual(
            warnings_of(self.SCRIPT, file="u.dsm"),
            [
                "u.dsm:2:12: warning: transition 'lost' leads to unknown state 'NOWHERE': "
                "taking it runs its actions and stays in state 'A'"
            ],
        )

    def test_taking_it_runs_the_actions_logs_and_stays(self) -> None:
        """Taking it runs its actions, logs an error naming the state, and the call stays put."""
        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = harness_with(self, u=self.SCRIPT.replace("$go", "#go"))
        leg = h.system("u")
        leg.event(go="1")
        h.advance(0)
        self.assertEqual((leg.state, leg.vars.get("ran")), ("A", "1"))
        errors = [formatEvent(e) for e in logged if e.get("log_level") in (LogLevel.error,)]
        self.assertTrue(
            any("transition 'lost' leads to unknown state 'NOWHERE'" in e for e in errors), errors
        )
        leg.event(go="2")  # still alive and in A: the good transition works
        h.advance(0)
        self.assertEqual(leg.state, "B")


class UnreadableTestTests(unittest.TestCase):
    def test_loads_with_a_warning(self) -> None:
        """``test(#type="file")`` (one '=') loads; the warning says it never matches."""
        self.assertEqual(
            warnings_of(
                'initial state A;\ntransition "t" A - exception; test(#type="file") / stop(true) -> A;\n',
                file="t.dsm",
            ),
            [
                "t.dsm:2:31: warning: expression '#type=\"file\"' not understood: "
                "expected ==, !=, < or >; the condition never matches"
            ],
        )

    def test_event_tests_are_tolerated_too(self) -> None:
        """``keyTest(1)`` (no operator) loads with the same warning at its column."""
        self.assertEqual(
            warnings_of("initial state A;\ntransition t A - keyTest(1) -> A;\n", file="k.dsm"),
            [
                "k.dsm:2:18: warning: expression '1' not understood: "
                "expected ==, !=, < or >; the condition never matches"
            ],
        )

    def test_it_never_matches_and_not_always_does(self) -> None:
        """The broken test never fires its transition; ``not`` in front of it always does."""
        h = harness_with(
            self,
            t="""\
            initial state A;
            transition "never" A - test($x=1) / set($never=1) -> B;
            transition "inverted" A - not test($x=1) / set($inverted=1) -> B;
            state B;
            """,
        )
        leg = h.system("t")
        self.assertEqual(
            (leg.state, leg.vars.get("never"), leg.vars.get("inverted")), ("B", None, "1")
        )


class StrayBraceTests(unittest.TestCase):
    SCRIPT = (
        "initial state A;\n"
        'transition "stop cmd" A - startup / set($a=1); set($b=2) } -> B;\n'
        "state B;\n"
    )

    def test_loads_with_a_warning(self) -> None:
        """``/ actions } -> B`` loads; the warning points at the stray brace."""
        self.assertEqual(
            warnings_of(self.SCRIPT, file="b.dsm"),
            [
                "b.dsm:2:58: warning: stray '}' before '->' in actions of transition "
                "'stop cmd' (ignored)"
            ],
        )

    def test_actions_run_and_the_target_is_reached(self) -> None:
        """The actions before the stray brace run and the transition reaches its target."""
        h = harness_with(self, b=self.SCRIPT)
        leg = h.system("b")
        self.assertEqual((leg.state, leg.vars["a"], leg.vars["b"]), ("B", "1", "2"))

    def test_a_brace_block_closed_twice_is_still_an_error(self) -> None:
        """``/ { ... } } -> B`` is not tolerated: SEMS would lose the target state there."""
        with self.assertRaises(CompileError) as cm:
            compiler().compile_text(
                "initial state A;\ntransition t A - startup / { set($a=1); } } -> A;\n",
                file="d.dsm",
            )
        self.assertEqual(str(cm.exception), "d.dsm:2:43: expected '->' in transition 't', got '}'")


class WarningApiTests(unittest.TestCase):
    def test_warnings_are_those_of_the_last_compile(self) -> None:
        """Each compile starts a fresh warning list, so a checker never repeats old warnings."""
        c = compiler()
        c.compile_text("initial state A;\ntransition t A - startup -> X;\n", file="one.dsm")
        self.assertEqual(len(c.warnings), 1)
        c.compile_text("initial state A;\n", file="two.dsm")
        self.assertEqual(c.warnings, [])

    def test_warnings_survive_a_failed_compile(self) -> None:
        """A script with errors and warnings reports both: the warnings stay on the compiler."""
        c = compiler()
        with self.assertRaises(CompileError):
            c.compile_text(
                "initial state A enter { nosuch(); };\ntransition t A - startup -> X;\n",
                file="f.dsm",
            )
        self.assertEqual(
            [str(w) for w in c.warnings],
            [
                "f.dsm:2:12: warning: transition 't' leads to unknown state 'X': "
                "taking it runs its actions and stays in state 'A'"
            ],
        )

    def test_a_warning_without_location(self) -> None:
        """A warning reads ``file:line:col: warning: text``, or ``warning: text`` without a place."""
        self.assertEqual(str(CompileWarning("odd")), "warning: odd")
        self.assertEqual(
            str(CompileWarning("odd", Location("a.dsm", 3, 4))), "a.dsm:3:4: warning: odd"
        )
