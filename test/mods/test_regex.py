"""mod_regex as a script sees it, and the POSIX ERE translation against glibc's answers."""

from __future__ import annotations

import os
import time

from twisted.trial import unittest

from donkey.dsm.errors import CompileError
from donkey.dsm.harness import Harness, HarnessSession
from donkey.mods.regex import compile_posix, posix_to_python


class ScriptCase(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def write(self, name: str, text: str) -> None:
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def script(self, name: str, body: str, extra: str = "") -> None:
        self.write(
            name + ".dsm",
            "import(mod_regex);\ninitial state A;\n"
            f'transition "go" A - sessionStart / {{\n{body}\n}} -> B;\nstate B;\n{extra}',
        )

    def harness(self, diags: str = "t", **conf: str) -> Harness:
        h = Harness()
        h.load("main", {"diag_path": self.dir, "load_diags": diags, **conf})
        return h

    def run_script(
        self, body: str, variables: dict[str, str] | None = None, extra: str = ""
    ) -> HarnessSession:
        self.script("t", body, extra)
        return self.harness().call("t", variables=variables)


class Actions(ScriptCase):
    def test_compile_and_match_sets_subexpressions(self):
        """regex.match of a compiled SIP-URI pattern sets $regex.match=1 and each subexpression."""
        s = self.run_script(
            "regex.compile(sipuri, ^sip:([^@]+)@([^;>]*)(;.*)?$);\nregex.match(sipuri, $u);",
            {"u": "sip:alice@example.com"},
        )
        self.assertEqual(s.vars["regex.match"], "1")
        self.assertEqual(s.vars["regex.match[1]"], "alice")
        self.assertEqual(s.vars["regex.match[2]"], "example.com")
        self.assertNotIn("regex.match[3]", s.vars)  # did not take part

    def test_no_match(self):
        """A failed regex.match sets $regex.match=0 and no subexpressions."""
        s = self.run_script("regex.compile(r, ^[[:digit:]]+$);\nregex.match(r, $v);", {"v": "12a"})
        self.assertEqual(s.vars["regex.match"], "0")
        self.assertNotIn("regex.match[1]", s.vars)

    def test_match_is_a_search_not_anchored(self):
        """regex.match finds the pattern anywhere in the text, as regexec does."""
        s = self.run_script("regex.compile(r, dom[a-z]+);\nregex.match(r, sip:x@domain.org);")
        self.assertEqual(s.vars["regex.match"], "1")

    def test_catastrophic_pattern_against_a_long_text_answers_at_once(self):
        """``^(a+)+$`` against a caller's 40-character text answers 0 at once, not after minutes."""
        started = time.monotonic()
        s = self.run_script(
            "regex.compile(r, ^(a+)+$);\nregex.match(r, $v);", {"v": "a" * 40 + "b"}
        )
        self.assertEqual(s.vars["regex.match"], "0")
        self.assertLess(time.monotonic() - started, 1.0)

    def test_catastrophic_back_reference_is_stopped(self):
        """A back-reference pattern that would backtrack forever is stopped and answers 0."""
        started = time.monotonic()
        s = self.run_script(
            "regex.compile(r, ^(a+)+\\1$);\nregex.match(r, $v);", {"v": "a" * 40 + "b"}
        )
        self.assertEqual(s.vars["regex.match"], "0")
        self.assertLess(time.monotonic() - started, 2.0)

    def test_regex_text_is_not_resolved(self):
        """A '$' in the pattern is an anchor, not a variable reference."""
        s = self.run_script("regex.compile(r, ^a$b);\nregex.match(r, $b);", {"b": "x"})
        self.assertEqual(s.vars["regex.match"], "0")  # '$' is an anchor, not $b

    def test_compile_error_sets_errno_and_drops_old_regex(self):
        """A pattern that does not compile sets $errno=arg and removes the old regex of that name."""
        s = self.run_script("regex.compile(r, abc);\nregex.compile(r, *bad);\nregex.match(r, abc);")
        self.assertEqual(s.vars["errno"], "arg")
        self.assertNotIn("regex.match", s.vars)  # r is gone, match did nothing

    def test_clear(self):
        """regex.clear removes the regex, so later matches do nothing."""
        s = self.run_script(
            "regex.compile(r, a);\nregex.match(r, a);\nset($first=$regex.match);\n"
            "regex.clear(r);\nset($regex.match=untouched);\nregex.match(r, a);"
        )
        self.assertEqual(s.vars["first"], "1")
        self.assertEqual(s.vars["regex.match"], "untouched")

    def test_old_subexpressions_stay(self):
        """As in SEMS, values of an earlier match are not cleared."""
        s = self.run_script(
            "regex.compile(r, (a)(b)?);\nregex.match(r, ab);\n"
            "regex.match(r, a);\nregex.match(r, zzz);"
        )
        self.assertEqual(s.vars["regex.match"], "0")
        self.assertEqual((s.vars["regex.match[1]"], s.vars["regex.match[2]"]), ("a", "b"))

    def test_regexes_are_shared_within_a_runtime_only(self):
        """A regex compiled by one call is usable by other calls of the same server, not another."""
        self.script("c", "regex.compile(shared, ^4[0-9]{2}$);")
        self.script("m", "regex.match(shared, $code);")
        h = self.harness("c,m")
        h.call("c")
        s = h.call("m", variables={"code": "404"})
        self.assertEqual(s.vars["regex.match"], "1")
        other = self.harness("c,m").call("m", variables={"code": "404"})
        self.assertNotIn("regex.match", other.vars)


class Condition(ScriptCase):
    def test_condition_selects_transition_and_sets_matches(self):
        """As a condition regex.match picks the transition and sets the subexpressions."""
        s = self.run_script(
            "regex.compile(ext, ^([0-9]{3})-([0-9]+)$);\nrepost();",
            {"n": "030-1234"},
            extra='transition "num" B - regex.match(ext, $n) / { set($area=$regex.match[1]); }'
            ' -> NUM;\ntransition "other" B - / -> OTHER;\nstate NUM;\nstate OTHER;\n',
        )
        self.assertEqual(s.path, ["A", "B", "NUM"])
        self.assertEqual((s.vars["area"], s.vars["regex.match[2]"]), ("030", "1234"))
        self.assertNotIn("regex.match", s.vars)  # the condition only sets [n]

    def test_condition_false_and_not(self):
        """A non-matching regex.match is false, and 'not' inverts it."""
        s = self.run_script(
            "regex.compile(ext, ^[0-9]+$);\n"
            "if regex.match(ext, $n) { set($a=1); } else { set($a=0); }\n"
            "if not regex.match(ext, $n) { set($b=1); } else { set($b=0); }",
            {"n": "abc"},
        )
        self.assertEqual((s.vars["a"], s.vars["b"]), ("0", "1"))

    def test_unknown_regex_is_false(self):
        """Matching with a regex that was never compiled is false."""
        s = self.run_script("if regex.match(nope, x) { set($a=1); } else { set($a=0); }")
        self.assertEqual(s.vars["a"], "0")


class Preload(ScriptCase):
    def test_regexes_from_mod_regex_conf(self):
        """Regexes listed in mod_regex.conf are ready when the module is preloaded."""
        self.write("mod_regex.conf", '# comment\nmy_r1=^sip:\nmy_r2 = "mydomain\\.net"\n')
        self.script(
            "t",
            "regex.match(my_r1, sip:x);\nset($a=$regex.match);\nregex.match(my_r2, mydomainxnet);",
        )
        h = self.harness(preload_mods="mod_regex", plugin_config_path=self.dir)
        s = h.call("t")
        self.assertEqual((s.vars["a"], s.vars["regex.match"]), ("1", "0"))

    def test_bad_preloaded_regex_fails_the_load(self):
        """A broken regex in the preload config makes the bundle fail to load."""
        conf = os.path.join(self.dir, "other.conf")
        with open(conf, "w") as f:
            f.write("bad=a{\n")
        self.script("t", "")
        self.assertRaises(CompileError, self.harness, preload_mods="mod_regex", mod_regex_conf=conf)


class Translation(unittest.TestCase):
    """What glibc's regcomp/regexec (REG_EXTENDED) answered for these patterns."""

    MATCHES = [
        # (pattern, text, expected whole match or None)
        ("[[:digit:]]+", "ab123c", "123"),
        ("[^[:space:]]+", "  xy z", "xy"),
        ("[[:alpha:][:digit:]_]+", "a_1-", "a_1"),
        ("[]a]+", "]a]b", "]a]"),
        ("[^]a]", "]ab", "b"),
        (r"[\d]", "\\", "\\"),  # backslash is literal in brackets
        (r"\d", "1d", "d"),  # \d is just 'd'
        (r"\n", "n", "n"),
        ("a$", "a\n", None),  # $ only at the very end
        ("a.b", "a\nb", "a\nb"),  # . matches newline
        ("a**", "aaa", "aaa"),
        ("x{2}{3}", "xxxxxxx", "xxxxxx"),
        ("a{,2}", "aaa", "aa"),
        ("a*?", "aa", "aa"),  # not lazy: (a*)?
        ("a+?", "aa", "aa"),
        (r"\<ab", "cab ab", "ab"),
        (r"ab\>", "abc ab", "ab"),
        ("a)", "a)", "a)"),  # unmatched ) is literal
        ("[%--]", "+", "+"),
        ("[a-]", "-", "-"),
        ("[[.-.]]", "-", "-"),
        ("[[=a=]]", "a", "a"),
        (r"(a)\1", "aa", "aa"),
        ("[&&]|[~~]|[|]", "~", "~"),
        (r"\{", "{", "{"),
        ("}", "}", "}"),
    ]
    ERRORS = [
        "*a",
        "(*a)",
        "a|*b",
        "(?a)",
        "+a",
        "{1}a",
        "^*",
        "a{",
        "a{x}",
        "a{2,1}",
        "a{ 1}",
        "x{1,2",
        "[a",
        "[z-a]",
        "[a-c-e]",
        "a\\",
        "[[:foo:]]",
        "[[.hyphen.]]",
        r"\1(a)",
        "(a",
    ]

    def test_matches(self):
        """POSIX extended patterns (classes, bounds, anchors) match what regcomp would."""
        for pattern, text, expected in self.MATCHES:
            m = compile_posix(pattern).search(text)
            self.assertEqual(m.group(0) if m else None, expected, (pattern, text))

    def test_errors(self):
        """POSIX patterns that regcomp refuses are refused."""
        for pattern in self.ERRORS:
            self.assertRaises(ValueError, compile_posix, pattern)

    def test_translation_is_plain_python(self):
        """POSIX syntax is translated into an equivalent Python pattern."""
        self.assertEqual(posix_to_python("^a{2}{3}$"), r"^(?:a{2}){3}\Z")
        self.assertEqual(posix_to_python("[[:digit:]-]"), r"[0-9\-]")
