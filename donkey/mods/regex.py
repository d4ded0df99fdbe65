"""mod_regex: named POSIX extended regular expressions.

Actions
    ``regex.compile(name, regex)``   compile ``regex`` (taken literally, not resolved)
                                     under ``name``; a bad one sets ``$errno=arg`` and
                                     removes any earlier regex of that name
    ``regex.match(name, text)``      ``$regex.match`` = ``1`` or ``0``; on a match
                                     ``$regex.match[n]`` = the n-th subexpression
    ``regex.clear(name)``            forget ``name``

Conditions
    ``regex.match(name, text)``      true if ``text`` matches; sets ``$regex.match[n]``
                                     like the action (the one side effect a condition has)

Regexes are shared by name between all sessions of one runtime, as SEMS keeps
them process-wide.  With ``preload_mods=mod_regex`` the bundle may name a
SEMS-style ``mod_regex.conf`` (``name=regex`` lines) with the key
``mod_regex_conf``, or a directory holding it with ``plugin_config_path``;
those regexes exist from the first session of that bundle on.

Patterns are POSIX EREs as SEMS's ``regcomp(REG_EXTENDED)`` (glibc) reads
them, translated to Python's ``re`` syntax and compiled with RE2, so matching takes
time linear in the text (see :func:`compile_posix` for the few patterns RE2
cannot take): bracket expressions with ``[:class:]``,
``[=c=]`` and ``[.c.]``, a literal backslash inside brackets, ``]`` first in
a bracket, intervals ``{m,n}`` / ``{,n}``, stacked repetitions (``a**``,
``a{2}{3}``), ``$`` only at the very end, ``.`` matching newline, the GNU
escapes ``\\w \\W \\s \\S \\b \\B \\< \\> \\` \\'`` and back-references
``\\1``-``\\9``; any other escaped character stands for itself (``\\d`` is
``d``, as in glibc).  glibc's compile errors (a leading ``*``, ``a{``, an
unknown class ...) are compile errors here too.  Matching is ASCII, as in the
C locale.

Known difference: POSIX picks the leftmost-*longest* match and Python the
leftmost match by backtracking order, so which alternative a subexpression
captures can differ (``(a|ab)`` on ``ab`` gives ``a`` here, ``ab`` in SEMS),
as can its span.  Whether a text matches at all is the same.

As in SEMS, ``$regex.match[n]`` is only written for subexpressions that took
part in the match; values from an earlier match stay otherwise.  Two small
differences: the condition sets every ``$regex.match[n]`` (SEMS's condition
never filled the last one), and ``not regex.match(unknown, x)`` is true here
(SEMS answered false for an unknown regex whether negated or not).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from donkey.common import saferegex
from donkey.common.saferegex import RegexTimeout, SafePattern
from donkey.dsm.module import Module

_STATE = "mod_regex.table"


class RegexModule(Module):
    """mod_regex, with regexes preloaded from a ``mod_regex.conf``."""

    def preload(self, config: Mapping[str, str], runtime: Any) -> None:
        path = config.get("mod_regex_conf", "").strip()
        if not path and config.get("plugin_config_path", "").strip():
            path = os.path.join(config["plugin_config_path"].strip(), "mod_regex.conf")
        if not path or not os.path.isfile(path):
            return
        table = regex_table(runtime)
        for name, pattern in read_conf(path).items():
            try:
                table.patterns[name] = compile_posix(pattern)
            except ValueError as e:
                raise ValueError(f"mod_regex: compiling '{pattern}' for '{name}': {e}") from None


module = RegexModule("mod_regex")


class RegexTable:
    """The named regexes of one runtime."""

    def __init__(self) -> None:
        self.patterns: dict[str, SafePattern] = {}


def regex_table(runtime: Any) -> RegexTable:
    """The runtime's regex table, made on first use."""
    return runtime.module_state(_STATE, RegexTable)


def read_conf(path: str) -> dict[str, str]:
    """``name=value`` lines of a SEMS config file (``#`` comments, optional quotes)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, eq, value = line.partition("=")
            if not eq:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[key.strip()] = value
    return out


# ---------------------------------------------------------------------------
# POSIX ERE -> Python re

_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": "".join("\\" + c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
    "word": "a-zA-Z0-9_",
}
_GNU_ESCAPES = {
    "w": r"\w",
    "W": r"\W",
    "s": r"\s",
    "S": r"\S",
    "b": r"\b",
    "B": r"\B",
    "<": r"\b(?=\w)",
    ">": r"\b(?<=\w)",
    "`": r"\A",
    "'": r"\Z",
}
_DUP_MAX = 0x7FFF

ERR_BADRPT = "Invalid preceding regular expression"
ERR_EBRACK = "Unmatched [, [^, [:, [., or [="
ERR_EPAREN = "Unmatched ( or \\("
ERR_EBRACE = "Unmatched \\{"
ERR_BADBR = "Invalid content of \\{\\}"
ERR_ERANGE = "Invalid range end"
ERR_ECTYPE = "Invalid character class name"
ERR_EESCAPE = "Trailing backslash"
ERR_ECOLLATE = "Invalid collation character"
ERR_ESUBREG = "Invalid back reference"


def _class_char(ch: str) -> str:
    """One character as a member of a Python character set."""
    return "\\" + ch if ch in "\\]^-[&~|" else ch


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression opening at ``pattern[i]``; returns (set, next index)."""
    n = len(pattern)
    i += 1
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    first = True
    while True:
        if i >= n:
            raise ValueError(ERR_EBRACK)
        ch = pattern[i]
        if ch == "]" and not first:
            i += 1
            break
        first = False
        if ch == "[" and i + 1 < n and pattern[i + 1] in ":=.":
            kind = pattern[i + 1]
            close = pattern.find(kind + "]", i + 2)
            if close < 0:
                raise ValueError(ERR_EBRACK)
            name = pattern[i + 2 : close]
            i = close + 2
            if kind == ":":
                if name not in _CLASSES:
                    raise ValueError(ERR_ECTYPE)
                parts.append(_CLASSES[name])
                continue
            if len(name) != 1:
                raise ValueError(ERR_ECOLLATE)
            ch = name
        else:
            i += 1
        # ch is one character; is it the start of a range?
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            end = pattern[i + 1]
            i += 2
            if end == "[" and i < n and pattern[i] in ".=":
                kind = pattern[i]
                close = pattern.find(kind + "]", i + 1)
                if close < 0:
                    raise ValueError(ERR_EBRACK)
                end = pattern[i + 1 : close]
                i = close + 2
                if len(end) != 1:
                    raise ValueError(ERR_ECOLLATE)
            if ord(end) < ord(ch):
                raise ValueError(ERR_ERANGE)
            if i < n and pattern[i] == "-" and i + 1 < n and pattern[i + 1] != "]":
                raise ValueError(ERR_ERANGE)  # a-c-e
            parts.append(f"{_class_char(ch)}-{_class_char(end)}")
            continue
        parts.append(_class_char(ch))
    return ("[^" if negate else "[") + "".join(parts) + "]", i


def _interval(pattern: str, i: int) -> tuple[str, int]:
    """Translate ``{m}``, ``{m,}``, ``{m,n}``, ``{,n}`` at ``pattern[i]``."""
    close = pattern.find("}", i)
    if close < 0:
        raise ValueError(ERR_EBRACE)
    body = pattern[i + 1 : close]
    low_text, comma, high_text = body.partition(",")
    if (low_text and not low_text.isdigit()) or (high_text and not high_text.isdigit()):
        raise ValueError(ERR_BADBR)
    if not comma and not low_text:
        raise ValueError(ERR_BADBR)
    low = int(low_text) if low_text else 0
    high = int(high_text) if high_text else None
    if low > _DUP_MAX or (high is not None and (high > _DUP_MAX or high < low)):
        raise ValueError(ERR_BADBR)
    if not comma:
        return "{%d}" % low, close + 1
    return ("{%d,}" % low if high is None else "{%d,%d}" % (low, high)), close + 1


def posix_to_python(pattern: str) -> str:
    """A Python ``re`` pattern that means what the POSIX ERE ``pattern`` means to glibc.

    Raises ``ValueError`` with glibc's message where ``regcomp`` would fail.
    """
    # Each sequence is a list of [text, kind]; kind: "atom", "rep" (atom with
    # a repetition), "anchor", "alt".
    stack: list[list[list[str]]] = []
    seq: list[list[str]] = []
    opened = 0
    closed: set[int] = set()
    group_ids: list[int] = []
    n = len(pattern)
    i = 0
    while i < n:
        ch = pattern[i]
        if ch == "(":
            opened += 1
            group_ids.append(opened)
            stack.append(seq)
            seq = []
            i += 1
        elif ch == ")" and stack:
            inner = "".join(t for t, _ in seq)
            seq = stack.pop()
            closed.add(group_ids.pop())
            seq.append(["(" + inner + ")", "atom"])
            i += 1
        elif ch == "|":
            seq.append(["|", "alt"])
            i += 1
        elif ch in "*+?{":
            if not seq or seq[-1][1] not in ("atom", "rep"):
                raise ValueError(ERR_BADRPT)
            if ch == "{":
                rep, i = _interval(pattern, i)
            else:
                rep = ch
                i += 1
            item = seq[-1]
            if item[1] == "rep":
                item[0] = "(?:" + item[0] + ")"
            item[0] += rep
            item[1] = "rep"
        elif ch == "[":
            text, i = _bracket(pattern, i)
            seq.append([text, "atom"])
        elif ch == ".":
            seq.append([".", "atom"])
            i += 1
        elif ch == "^":
            seq.append(["^", "anchor"])
            i += 1
        elif ch == "$":
            seq.append([r"\Z", "anchor"])
            i += 1
        elif ch == "\\":
            if i + 1 >= n:
                raise ValueError(ERR_EESCAPE)
            nxt = pattern[i + 1]
            i += 2
            if nxt in _GNU_ESCAPES:
                kind = "anchor" if nxt in "bB<>`'" else "atom"
                seq.append([_GNU_ESCAPES[nxt], kind])
            elif "1" <= nxt <= "9":
                if int(nxt) not in closed:
                    raise ValueError(ERR_ESUBREG)
                seq.append(["\\" + nxt, "atom"])
            else:
                seq.append([re.escape(nxt), "atom"])
        else:
            seq.append([re.escape(ch), "atom"])
            i += 1
    if stack:
        raise ValueError(ERR_EPAREN)
    return "".join(t for t, _ in seq)


def compile_posix(pattern: str) -> SafePattern:
    """Compile a POSIX ERE; ``ValueError`` if glibc (or the translation) rejects it.

    Compiled with RE2 (linear time in the text, so a caller's text cannot
    stall the server); what RE2 lacks (back-references, ``\\<``/``\\>``)
    falls back to Python's ``re`` with each match time-limited
    (:mod:`donkey.common.saferegex`).
    """
    return saferegex.compile(posix_to_python(pattern), dotall=True, ascii=True)


# ---------------------------------------------------------------------------
# actions and conditions


def _match(session: Any, event: Any, args: tuple) -> bool | None:
    """Match and set ``$regex.match[n]``; None when the regex does not exist."""
    name = session.resolve(args[0], event)
    text = session.resolve(args[1], event)
    pattern = regex_table(session.runtime).patterns.get(name)
    if pattern is None:
        session.log.error("regex '{name}' not found for matching '{text}'", name=name, text=text)
        return None
    try:
        m = pattern.search(text)
    except RegexTimeout as e:
        session.log.error("matching regex '{name}': {why}", name=name, why=str(e))
        return False
    if m is None:
        return False
    for index, group in enumerate(m.groups(), 1):
        if group is not None:
            session.vars[f"regex.match[{index}]"] = group
    return True


@module.action("regex.compile", split=",")
def _compile(session, event, args):
    name = session.resolve(args[0], event)
    patterns = regex_table(session.runtime).patterns
    try:
        patterns[name] = compile_posix(args[1])
    except ValueError as e:
        patterns.pop(name, None)
        session.log.error(
            "compiling '{regex}' for regex '{name}': {why}", regex=args[1], name=name, why=str(e)
        )
        session.set_errno("arg")


@module.action("regex.match", split=",")
def _match_action(session, event, args):
    result = _match(session, event, args)
    if result is not None:
        session.vars["regex.match"] = "1" if result else "0"


@module.action("regex.clear")
def _clear(session, event, args):
    regex_table(session.runtime).patterns.pop(session.resolve(args[0], event), None)


@module.condition("regex.match", split=",")
def _match_condition(session, event, args) -> bool:
    return bool(_match(session, event, args))
