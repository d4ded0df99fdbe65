"""Every test says, in its docstring, what a user would see if it failed.

The suite reads as a specification only if each test method carries a
one-line claim; this walks every ``test_*.py`` under ``test/`` and lists the
test methods that have none.
"""

from __future__ import annotations

import ast
import os

from twisted.trial import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def undocumented_tests(top: str = HERE) -> list[str]:
    """``path:line Class.test_name`` of each test method without a docstring."""
    missing = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        for name in sorted(filenames):
            if not (name.startswith("test_") and name.endswith(".py")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
                for fn in cls.body:
                    if (
                        isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and fn.name.startswith("test")
                        and not ast.get_docstring(fn)
                    ):
                        rel = os.path.relpath(path, ROOT)
                        missing.append(f"{rel}:{fn.lineno} {cls.name}.{fn.name}")
    return missing


class DocstringTests(unittest.TestCase):
    def test_every_test_method_has_a_docstring(self):
        """A test without a one-line docstring is named here, file, line and method."""
        missing = undocumented_tests()
        self.assertEqual(
            missing,
            [],
            f"{len(missing)} test methods have no docstring:\n" + "\n".join(missing),
        )

    def test_the_checker_finds_an_undocumented_test(self):
        """The checker itself reports a test method that lacks a docstring."""
        top = os.path.abspath(self.mktemp())
        os.makedirs(top)
        with open(os.path.join(top, "test_sample.py"), "w") as f:
            f.write(
                "class T:\n"
                "    def test_bare(self):\n        pass\n"
                '    def test_told(self):\n        """Says why."""\n'
            )
        found = undocumented_tests(top)
        self.assertEqual(len(found), 1, found)
        self.assertTrue(found[0].endswith("T.test_bare"), found)
