"""donkeysm-graph: scripts drawn as state graphs (the model, its DOT, and the command)."""

from __future__ import annotations

import io
import os
import shutil
import xml.etree.ElementTree as ET
from contextlib import redirect_stderr, redirect_stdout

from twisted.trial import unittest

from donkey.dsm.cli import graph_main
from donkey.dsm.compiler import Compiler
from donkey.dsm.core import core
from donkey.dsm.graph import build_graph, collect_diagrams, node_id
from donkey.dsm.loader import ModuleLoader
from test.dsm.helpers import write_scripts

HERE = os.path.dirname(os.path.abspath(__file__))
QUIZ = os.path.normpath(os.path.join(HERE, "..", "..", "conf", "dsm", "quizconnect"))
CALLER = os.path.join(QUIZ, "quizconnect_caller.dsm")
CALLEE = os.path.join(QUIZ, "quizconnect_callee.dsm")

MAIN = """\
import(mod_dlg);
#include "common.dsmi"
initial state START;
transition "go" START - invite -> MENU;
transition "oops" START - exception; test(#type==file) -> BROKEN;
state MENU enter { callFSM(sub) };
transition "key" MENU - key(1) / stop(true) -> DONE;
transition "typo" MENU - key(2) -> NOWHERE;
state DONE;
state ORPHAN;
"""

SUB = """\
initial state S1;
transition "back" S1 - timer / returnFSM() -> S2;
state S2;
"""


def compile_all(*paths: str):
    loader = ModuleLoader()
    compiler = Compiler(core, lambda name, at: loader.load(name, "", at))
    return collect_diagrams(paths, compiler.compile_file)


def run_graph(*args: str, dot: str = "dot") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = graph_main(list(args), dot=dot)
    return code, out.getvalue(), err.getvalue()


class ModelTests(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = write_scripts(self, main=MAIN, sub=SUB)
        with open(os.path.join(self.dir, "common.dsmi"), "w") as f:
            f.write('state BROKEN enter { log(1, "broken") };\n')
        diagrams, roots, self.missing = compile_all(os.path.join(self.dir, "main.dsm"))
        self.graph = build_graph(diagrams, roots)

    def test_states_and_marks(self) -> None:
        """Every state is a node; the initial one is marked, sinks and stop() states are final."""
        nodes = self.graph.nodes
        self.assertTrue(nodes[node_id("main", "START")].initial)
        self.assertFalse(nodes[node_id("main", "MENU")].final)
        self.assertTrue(nodes[node_id("main", "DONE")].final)
        self.assertTrue(nodes[node_id("main", "BROKEN")].final)
        self.assertTrue(nodes[node_id("sub", "S1")].initial)

    def test_sub_fsm_and_include_are_drawn(self) -> None:
        """A callFSM() target is compiled from the script's folder and joined by a callFSM edge."""
        self.assertEqual(self.missing, [])
        edges = {(e.source, e.target, e.kind) for e in self.graph.edges}
        self.assertIn((node_id("main", "MENU"), node_id("sub", "S1"), "callFSM"), edges)
        self.assertIn(os.path.join(self.dir, "common.dsmi"), self.graph.files["main"])

    def test_edges_carry_name_and_event(self) -> None:
        """A transition edge is labelled with its name and its conditions; exceptions apart."""
        by_name = {e.name: e for e in self.graph.edges}
        self.assertEqual((by_name["go"].event, by_name["go"].kind), ("invite", "transition"))
        self.assertEqual(by_name["oops"].kind, "exception")
        self.assertEqual(by_name["oops"].event, "exception; test(#type==file)")

    def test_unknown_and_unreachable_are_shown_and_warned(self) -> None:
        """A target that does not exist and a state nothing leads to are nodes and warnings."""
        nowhere = self.graph.nodes[node_id("main", "NOWHERE")]
        self.assertTrue(nowhere.unknown)
        self.assertTrue(self.graph.nodes[node_id("main", "ORPHAN")].unreachable)
        self.assertFalse(self.graph.nodes[node_id("sub", "S2")].unreachable)
        text = "\n".join(self.graph.warnings)
        self.assertIn("main.dsm:8:12: transition 'typo' leads to unknown state 'NOWHERE'", text)
        self.assertIn("main.dsm:10:7: state 'ORPHAN' of diagram 'main' is unreachable", text)

    def test_dot_text(self) -> None:
        """The DOT output has one cluster per diagram and styles the special edges apart."""
        dot = self.graph.to_dot("t")
        self.assertIn("subgraph cluster_main {", dot)
        self.assertIn("subgraph cluster_sub {", dot)
        self.assertIn('"main/START.start" -> "main/START";', dot)
        oops = next(line for line in dot.splitlines() if "oops" in line)
        self.assertIn("style=dashed", oops)
        self.assertIn("constraint=false", oops)
        self.assertIn('label="? NOWHERE"', dot)


class CommandTests(unittest.TestCase):
    def test_dot_flag_prints_dot(self) -> None:
        """--dot prints the graph of both quizconnect scripts as DOT text."""
        code, out, err = run_graph(CALLER, CALLEE, "--dot")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith("digraph dsm {"))
        for state in ("WAIT_CALLEE", "CANCEL_OTHER_CALLEES", "ENTER_PIN", "TEST_PIN_FINAL"):
            self.assertIn(f'label="{state}"', out)

    def test_without_dot_prints_dot_and_says_how(self) -> None:
        """Without Graphviz the DOT text is printed and stderr says how to render it."""
        code, out, err = run_graph(CALLER, dot="no-such-dot-binary")
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith("digraph dsm {"))
        self.assertIn("apt-get install graphviz", err)
        self.assertIn("dot -Tsvg", err)

    def test_compile_error_is_reported(self) -> None:
        """A script that does not compile is reported as file:line:col and exits 1."""
        d = write_scripts(self, bad="initial state A;\nstate B enter { nosuch(); };\n")
        code, out, err = run_graph(os.path.join(d, "bad.dsm"), "--dot")
        self.assertEqual(code, 1)
        self.assertIn("bad.dsm:2:17: unknown action 'nosuch'", err)

    def test_svg_of_quizconnect(self) -> None:
        """-o x.svg renders an SVG holding every state and transition of both scripts."""
        if shutil.which("dot") is None:
            raise unittest.SkipTest("Graphviz's dot is not installed (apt-get install graphviz)")
        out = os.path.join(self.mktemp() + ".svg")
        code, stdout, err = run_graph(CALLER, CALLEE, "-o", out)
        self.assertEqual((code, err), (0, ""), stdout)
        tree = ET.parse(out)
        texts = {t.text for t in tree.iter("{http://www.w3.org/2000/svg}text")}
        titles = {t.text for t in tree.iter("{http://www.w3.org/2000/svg}title")}
        for path, diagram in ((CALLER, "quizconnect_caller"), (CALLEE, "quizconnect_callee")):
            diagrams, _, _ = compile_all(path)
            for state in diagrams[diagram].states.values():
                self.assertIn(state.name, texts)
                self.assertIn(node_id(diagram, state.name), titles)
                for tr in state.transitions:
                    self.assertIn(tr.name, texts)
