"""mod_utils as a script sees it: variables set, files played, errors reported."""

from __future__ import annotations

import hashlib
import os
import re

from twisted.trial import unittest

from donkey.dsm.harness import Harness, HarnessSession
from donkey.mods.utils import count_files, double2str, str2i


class ScriptCase(unittest.TestCase):
    """Runs one small script as an inbound call; its work is on ``sessionStart``."""

    def run_script(
        self,
        body: str,
        *,
        variables: dict[str, str] | None = None,
        extra_states: str = "",
        harness: Harness | None = None,
        files: tuple[str, ...] = (),
        errors_ok: bool = False,
    ) -> HarnessSession:
        directory = self.mktemp()
        os.makedirs(directory)
        self.dir = directory + "/"
        for name in files:
            open(os.path.join(directory, name), "wb").close()
        with open(os.path.join(directory, "t.dsm"), "w") as f:
            f.write(
                "import(mod_utils);\ninitial state A;\n"
                f'transition "go" A - sessionStart / {{\n{body}\n}} -> B;\n'
                f"state B;\n{extra_states}"
            )
        variables = dict(variables or {})
        variables.setdefault("d", self.dir)  # prompts are found in $d
        h = harness or Harness()
        h.load("main", {"diag_path": directory, "load_diags": "t"})
        session = h.call("t", variables=variables)
        self.logged_errors = h.errors()
        if not errors_ok:
            self.assertEqual(self.logged_errors, [])
        return session


class IdsAndRandom(ScriptCase):
    def test_get_new_id_sets_distinct_ids(self):
        """utils.getNewId sets a SEMS-shaped unique id, a different one each time."""
        s = self.run_script("utils.getNewId(a);\nutils.getNewId(b);")
        for name in ("a", "b"):
            self.assertRegex(s.vars[name], r"^[0-9A-F]{8}-[0-9A-F]{16}-[0-9A-F]{8}$")
        self.assertNotEqual(s.vars["a"], s.vars["b"])

    def test_get_new_id_takes_the_value_as_name(self):
        # SEMS resolves the argument: $target names the variable to set.
        """utils.getNewId($target) sets the variable whose name $target holds, as SEMS does."""
        s = self.run_script("utils.getNewId($target);", variables={"target": "myid"})
        self.assertIn("myid", s.vars)

    def test_rand_modulo(self):
        """utils.rand with a modulo gives values in 0..n-1, not all the same."""
        body = "\n".join(f"utils.rand(r{i}, 3);" for i in range(30))
        s = self.run_script(body)
        values = {s.vars[f"r{i}"] for i in range(30)}
        self.assertTrue(values <= {"0", "1", "2"})
        self.assertGreater(len(values), 1)

    def test_rand_without_modulo(self):
        """utils.rand without modulo gives a non-negative 31-bit number."""
        s = self.run_script("utils.rand(r);")
        self.assertTrue(0 <= int(s.vars["r"]) <= 2**31 - 1)

    def test_srand_seeds_from_the_clock(self):
        """Two runtimes seeded at the same (fake) second draw the same numbers."""
        body = "utils.srand();\nutils.rand(a);\nutils.rand(b);"
        first = self.run_script(body)
        second = self.run_script(body)
        self.assertEqual((first.vars["a"], first.vars["b"]), (second.vars["a"], second.vars["b"]))
        h = Harness()
        h.advance(1000)
        third = self.run_script(body, harness=h)
        self.assertNotEqual((first.vars["a"], first.vars["b"]), (third.vars["a"], third.vars["b"]))


class Arithmetic(ScriptCase):
    def test_add_prints_like_sems(self):
        """utils.add adds decimals and prints the result the way SEMS prints doubles."""
        s = self.run_script(
            "utils.add($a, 4);\nutils.add($b, 2.25);\nutils.add($c, $b);",
            variables={"a": "3", "b": "1.5", "c": "0.25"},
        )
        self.assertEqual((s.vars["a"], s.vars["b"], s.vars["c"]), ("7.0", "3.750", "4.0"))

    def test_add_to_unset_and_non_numbers(self):
        """utils.add treats an unset variable and a non-number as 0."""
        s = self.run_script("utils.add($x, 2);\nutils.add($y, abc);", variables={"y": "5"})
        self.assertEqual((s.vars["x"], s.vars["y"]), ("2.0", "5.0"))

    def test_sub(self):
        """utils.sub subtracts and prints like SEMS."""
        s = self.run_script("utils.sub($a, 10);", variables={"a": "2.5"})
        self.assertEqual(s.vars["a"], "-7.50")

    def test_mul_is_integer(self):
        """utils.mul multiplies as integers, truncating decimals."""
        s = self.run_script(
            "utils.mul($a, 7);\nutils.mul($b, 2);", variables={"a": "6", "b": "2.9"}
        )
        self.assertEqual((s.vars["a"], s.vars["b"]), ("42", "4"))

    def test_int_truncates(self):
        """utils.int truncates towards zero and reads a leading number from text."""
        s = self.run_script(
            "utils.int($a, 3.9);\nutils.int($b, -2.5);\nutils.int($c, $v);",
            variables={"v": "12abc"},
        )
        self.assertEqual((s.vars["a"], s.vars["b"], s.vars["c"]), ("3", "-2", "12"))

    def test_md5(self):
        """utils.md5 gives the hex MD5 of the value."""
        s = self.run_script("utils.md5($h, $v);", variables={"v": "hello world"})
        self.assertEqual(s.vars["h"], hashlib.md5(b"hello world").hexdigest())

    def test_double2str(self):
        """Doubles print exactly as SEMS's double2str prints them."""
        self.assertEqual(double2str(3.0), "3.0")
        self.assertEqual(double2str(0.1 + 0.2), "0.30")  # SEMS keeps one zero
        self.assertEqual(double2str(1e20), "1.000000000000000e+20")
        self.assertEqual(double2str(-0.5), "-0.50")
        self.assertEqual(double2str(float("inf")), "inf")

    def test_str2i(self):
        """Text converts to an integer as SEMS's str2i does: leading number, no sign, no overflow."""
        self.assertEqual(str2i(" 12"), 12)
        self.assertEqual(str2i("12 x"), 12)
        self.assertEqual(str2i(""), 0)
        self.assertIsNone(str2i("1a"))
        self.assertIsNone(str2i("-1"))
        self.assertIsNone(str2i("12345678901"))


class Strings(ScriptCase):
    def test_replace_literal(self):
        """utils.replace replaces every occurrence of a literal search text."""
        s = self.run_script("utils.replace($s, -=>+);", variables={"s": "a-b--c"})
        self.assertEqual(s.vars["s"], "a+b++c")

    def test_replace_with_variables(self):
        """utils.replace takes search and replacement from variables."""
        s = self.run_script(
            "utils.replace($s, $from=>$to);",
            variables={"s": "sip:100@x", "from": "100", "to": "200"},
        )
        self.assertEqual(s.vars["s"], "sip:200@x")

    def test_replace_bad_spec_sets_errno(self):
        """A replace spec without '=>' leaves the text and sets $errno=arg."""
        s = self.run_script("utils.replace($s, nothing);", variables={"s": "abc"}, errors_ok=True)
        self.assertEqual((s.vars["s"], s.vars["errno"]), ("abc", "arg"))

    def test_replace_empty_search_variable(self):
        """An empty search text leaves the text and sets $errno=arg."""
        s = self.run_script("utils.replace($s, $empty=>x);", variables={"s": "abc"}, errors_ok=True)
        self.assertEqual((s.vars["s"], s.vars["errno"]), ("abc", "arg"))

    def test_split_string_cr(self):
        """utils.splitStringCR splits at newlines into an array, into the same or another variable."""
        s = self.run_script(
            "utils.splitStringCR($out);\nutils.splitStringCR($in, $lines);",
            variables={"out": "one\ntwo\n\nfour\n", "in": "x\ny"},
        )
        self.assertEqual(
            [s.vars.get(f"out[{i}]") for i in range(5)], ["one", "two", "", "four", None]
        )
        self.assertEqual((s.vars["lines[0]"], s.vars["lines[1]"]), ("x", "y"))

    def test_split_string(self):
        """utils.splitString splits at the delimiter (default ','), keeping empty fields."""
        s = self.run_script(
            "utils.splitString($a, ;);\nutils.splitString($b);", variables={"a": "x;y;", "b": "abc"}
        )
        self.assertEqual([s.vars.get(f"a[{i}]") for i in range(4)], ["x", "y", "", None])
        self.assertEqual([s.vars.get(f"b[{i}]") for i in range(4)], ["a", "b", "c", None])

    def test_split_string_with_delimiter_variable(self):
        """The delimiter may come from a variable and be longer than one character."""
        s = self.run_script("utils.splitString($a, $d);", variables={"a": "1::2", "d": "::"})
        self.assertEqual((s.vars["a[0]"], s.vars["a[1]"]), ("1", "2"))

    def test_decode_json(self):
        """utils.decodeJson flattens objects and arrays into dotted and indexed variables."""
        doc = '{"a": 1, "b": [true, null, "x"], "c": {"d": 1.5, "e": "t"}}'
        s = self.run_script("utils.decodeJson($doc, $j);", variables={"doc": doc})
        got = {k: v for k, v in s.vars.items() if k.startswith("j")}
        self.assertEqual(
            got,
            {
                "j.a": "1",
                "j.b[0]": "true",
                "j.b[1]": "",
                "j.b[2]": "x",
                "j.c.d": "1.50",
                "j.c.e": "t",
            },
        )

    def test_decode_json_errors(self):
        """Broken JSON sets $errno=arg and no variables."""
        s = self.run_script(
            "utils.decodeJson($doc, $j);", variables={"doc": "{broken"}, errors_ok=True
        )
        self.assertEqual(s.vars["errno"], "arg")
        self.assertFalse([k for k in s.vars if k.startswith("j")])

    def test_escape_and_unescape_crlf(self):
        """escapeCRLF writes CR and LF as \r and \n; unescapeCRLF restores them."""
        s = self.run_script(
            "utils.escapeCRLF($m);\nset($e=$m);\nutils.unescapeCRLF($m);",
            variables={"m": "a\r\nb\r\n"},
        )
        self.assertEqual(s.vars["e"], "a\\r\\nb\\r\\n")
        self.assertEqual(s.vars["m"], "a\r\nb\r\n")


class Counting(ScriptCase):
    def test_count_files(self):
        """Numbers map to the prompt files SEMS's count helpers play (tens and units, either order)."""
        self.assertEqual(count_files(7, "d/", ".wav", True), ["d/7.wav"])
        self.assertEqual(count_files(20, "", "", True), ["20"])
        self.assertEqual(count_files(21, "", "", True), ["20", "x1"])
        self.assertEqual(count_files(21, "", "", False), ["x1", "20"])
        self.assertEqual(count_files(40, "", "", True), ["40"])
        self.assertEqual(count_files(115, "", "", True), ["100", "15"])
        self.assertEqual(count_files(300, "", "", True), ["300"])
        self.assertEqual(count_files(1234, "", "", True), ["1000", "200", "30", "x4"])
        self.assertEqual(count_files(21000, "", "", True), ["20000", "1000"])

    def test_play_count_right_and_left(self):
        """playCountRight and playCountLeft play the number's files in their orders."""
        s = self.run_script(
            "utils.playCountRight(45, $d);\nutils.playCountLeft(45, $d);",
            files=("40.wav", "x5.wav"),
        )
        self.assertEqual(
            s.record.played,
            [self.dir + "40.wav", self.dir + "x5.wav", self.dir + "x5.wav", self.dir + "40.wav"],
        )

    def test_play_count_clears_errno(self):
        """A successful playCount clears $errno."""
        s = self.run_script("set($errno=x);\nutils.playCountRight(3, $d);", files=("3.wav",))
        self.assertEqual(s.vars["errno"], "")
        self.assertEqual(s.record.played, [self.dir + "3.wav"])

    def test_missing_file_throws_file_exception(self):
        """A missing count prompt throws a 'file' exception with its path; the actions after it do not run."""
        s = self.run_script(
            "utils.playCountRight(21, $d);\nset($not_reached=1);",
            variables={"d": "/nonexistent/"},
            extra_states='transition "err" A - exception; test(#type == file) / '
            "{ set($path=#path); } -> E;\nstate E;\n",
        )
        self.assertEqual(s.path, ["A", "E"])
        self.assertEqual(s.vars["path"], "/nonexistent/20.wav")
        self.assertNotIn("not_reached", s.vars)

    def test_bad_count_sets_errno(self):
        """A count that is not a number sets $errno=arg and $strerror, and logs it."""
        s = self.run_script("utils.playCountRight(12a);\nutils.getCountLeft(x);", errors_ok=True)
        self.assertEqual(s.vars["errno"], "arg")
        self.assertEqual(s.vars["strerror"], "could not parse count 'x'\n")
        self.assertTrue(any("'12a'" in line for line in self.logged_errors))
        self.assertEqual(s.record.played, [])
        self.assertNotIn("count_file[0]", s.vars)

    def test_get_count(self):
        """getCount* put the file names into $count_file[] instead of playing them."""
        s = self.run_script(
            "utils.getCountRight(21, wav/);\nset($r0=$count_file[0]);\n"
            "set($r1=$count_file[1]);\nutils.getCountLeftNoSuffix(33, n/);"
        )
        self.assertEqual((s.vars["r0"], s.vars["r1"]), ("wav/20.wav", "wav/x1.wav"))
        self.assertEqual((s.vars["count_file[0]"], s.vars["count_file[1]"]), ("n/x3", "n/30"))
        self.assertEqual(s.vars["errno"], "")

    def test_get_count_right_no_suffix_and_left(self):
        """The NoSuffix variants drop '.wav'; getCountLeft uses the given directory."""
        s = self.run_script(
            "utils.getCountRightNoSuffix(99);\nset($a=$count_file[0]);\nutils.getCountLeft(5, d/);"
        )
        self.assertEqual(s.vars["a"], "90")
        self.assertEqual(s.vars["count_file[0]"], "d/5.wav")

    def test_spell(self):
        """utils.spell plays one file per digit, in order."""
        s = self.run_script("utils.spell(321, $d);", files=("1.wav", "2.wav", "3.wav"))
        self.assertEqual(s.record.played, [self.dir + n for n in ("3.wav", "2.wav", "1.wav")])

    def test_spell_missing_file(self):
        """A missing digit file throws a 'file' exception naming the path."""
        s = self.run_script(
            "utils.spell(a, /nonexistent/);",
            extra_states='transition "err" A - exception / '
            "{ set($type=#type); set($path=#path); } -> E;\n"
            "state E;\n",
        )
        self.assertEqual((s.vars["type"], s.vars["path"]), ("file", "/nonexistent/a.wav"))


class RingTone(ScriptCase):
    def test_all_parameters(self):
        """playRingTone passes length, on, off and both frequencies to the media."""
        s = self.run_script("utils.playRingTone(0, 1000, 4000, 425, 0);")
        self.assertEqual(s.record.media_calls, [("play_ringtone", 0, 1000, 4000, 425, 0, False)])

    def test_defaults_and_variables(self):
        """playRingTone fills missing parameters with SEMS's defaults and reads variables."""
        s = self.run_script(
            "utils.playRingTone($len);\nutils.playRingTone(1, $on);",
            variables={"len": "3000", "on": "500"},
        )
        self.assertEqual(
            s.record.media_calls,
            [
                ("play_ringtone", 3000, 2000, 4000, 440, 480, False),
                ("play_ringtone", 1, 500, 4000, 440, 480, False),
            ],
        )

    def test_bad_values_fall_back(self):
        """playRingTone's non-numbers fall back to the defaults."""
        s = self.run_script("utils.playRingTone(x, y, 100);")
        self.assertEqual(s.record.media_calls, [("play_ringtone", 0, 2000, 100, 440, 480, False)])


class Conditions(ScriptCase):
    def check(self, condition: str, variables: dict[str, str]) -> str:
        s = self.run_script(
            f"if {condition} {{ set($r=yes); }} else {{ set($r=no); }}", variables=variables
        )
        return s.vars["r"]

    def test_is_in_list(self):
        """utils.isInList matches a whole item of a comma list, spaces and tabs ignored."""
        self.assertEqual(self.check('utils.isInList($c, "404, 405")', {"c": "405"}), "yes")
        self.assertEqual(self.check('utils.isInList($c, "404, 405")', {"c": "40"}), "no")
        self.assertEqual(self.check("utils.isInList($c, $l)", {"c": "b", "l": "a,\tb ,c"}), "yes")

    def test_starts_with(self):
        """utils.startsWith is true only when the text begins with the prefix."""
        self.assertEqual(self.check("utils.startsWith($u, sip:)", {"u": "sip:1@x"}), "yes")
        self.assertEqual(self.check("utils.startsWith($u, $p)", {"u": "tel:1", "p": "sip"}), "no")
        self.assertEqual(self.check("utils.startsWith($u, $p)", {"u": "ab", "p": "abc"}), "no")

    def test_as_transition_condition_with_not(self):
        """utils conditions work in transitions and with 'not'."""
        s = self.run_script(
            "repost();",
            variables={"c": "7"},
            extra_states='transition "in" B - not utils.isInList($c, "1,2") / '
            "{ set($r=notin); } -> C;\nstate C;\n",
        )
        self.assertEqual(s.vars.get("r"), "notin")


class Ids(unittest.TestCase):
    def test_new_id_shape(self):
        """A new id has SEMS's hex shape 8-16-8."""
        from donkey.mods.utils import new_id

        self.assertTrue(re.match(r"^[0-9A-F]{8}-[0-9A-F]{16}-[0-9A-F]{8}$", new_id()))
