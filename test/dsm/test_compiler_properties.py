"""Property tests of the DSM compiler: any text is compiled or refused with a CompileError, quickly."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from donkey.dsm.compiler import Compiler
from donkey.dsm.core import core
from donkey.dsm.errors import CompileError, CompileErrors
from donkey.dsm.loader import ModuleLoader

_loader = ModuleLoader()
# words of the language, so random scripts get past the tokenizer often
_WORDS = st.sampled_from(
    [
        "initial", "state", "transition", "function", "import(mod_utils)", "import(nosuch)",
        "A", "B", '"t"', "-", "->", "/", ";", "{", "}", "(", ")", "[", "]", "if", "else",
        "for", "in", "set($x=1)", "#x", "==", "!=", "not", "event", "sessionStart",
        "invite", "$x", "@y", "'", '"', "--", "#include", "\n", " ", "\t", "\x00", "é",
    ]
)  # fmt: skip
_SCRIPTS = st.text(max_size=400) | st.lists(_WORDS, max_size=80).map(" ".join)


class CompilerProperties(unittest.TestCase):
    @settings(max_examples=400, deadline=None)
    @given(_SCRIPTS)
    def test_random_text_compiles_or_raises_compile_error(self, text: str) -> None:
        """Whatever a script says, loading it answers a diagram or a CompileError within a second."""
        compiler = Compiler(core, lambda mod, at: _loader.load(mod, "", at))
        started = time.monotonic()
        try:
            compiler.compile_text(text, load_path=self.mktemp())
        except (CompileError, CompileErrors):
            pass
        self.assertLess(time.monotonic() - started, 1.0)
