"""The DSM compiler: script text -> :class:`~donkey.dsm.diagram.Diagram`.

It reads scripts the way SEMS does, so scripts written for SEMS compile
unchanged: whole-line ``--`` and ``#`` comments, ``#include``; tokens end at
white space and at ``; { } [ ]``, but quotes and parentheses group, so
``dlg.acceptInvite(183, Session Progress)`` is one token and a missing ``;``
between two actions on separate lines does no harm.  Every token keeps its
``file:line:col`` for error messages.

What SEMS loads in spite of a mistake loads here too, with a
:class:`CompileWarning` instead of an error, and runs as it runs in SEMS:

- a transition to a state the diagram does not define: taking it runs the
  old state's exit actions and the transition's actions, logs an error and
  stays in the old state;
- a ``test()`` (or ``keyTest()``, ``eventTest()`` ...) expression without a
  comparison: the condition never matches (so ``not test(...)`` always does);
- a stray ``}`` ending a transition's bare action list before ``->``.

``set($x="")`` is no mistake: a second parameter written as an empty quoted
string is the empty string.  The warnings of the last compile are in
:attr:`Compiler.warnings`.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from donkey.common.files import FileRefused, read_regular_file
from donkey.dsm.core import compile_test
from donkey.dsm.diagram import Action, Condition, Diagram, ForLoop, IfBlock, State, Transition
from donkey.dsm.errors import CompileError, CompileErrors, Location
from donkey.dsm.module import Module, Spec, parse_args, split_two

ModuleResolver = Callable[[str, Location], Module]


@dataclass(frozen=True)
class CompileWarning:
    """Something SEMS loads although it is probably a mistake.

    ``str(warning)`` is ``file:line:col: warning: message``, the format
    editors and compilers use, so a checker can print it next to errors.
    """

    message: str
    location: Location | None = None

    def __str__(self) -> str:
        if self.location is None:
            return f"warning: {self.message}"
        return f"{self.location}: warning: {self.message}"


# ---------------------------------------------------------------------------
# Reading sources (comments, #include)


@dataclass
class Source:
    """Script text after ``#include`` expansion, with each line's origin."""

    text: str
    origins: list[tuple[str, int]]  # (file, line) for each line of text
    line_starts: list[int]

    def location(self, offset: int) -> Location:
        index = bisect_right(self.line_starts, offset) - 1
        if index < 0 or not self.origins:
            return Location("<script>", 1, offset + 1)
        file, line = self.origins[index]
        return Location(file, line, offset - self.line_starts[index] + 1)


def read_source(path: str) -> Source:
    """Read ``path`` with its includes; raises :class:`CompileError`."""
    lines: list[str] = []
    origins: list[tuple[str, int]] = []
    _read_into(path, os.path.dirname(os.path.abspath(path)), lines, origins, [])
    return _make_source(lines, origins)


def source_from_text(text: str, name: str = "<script>", load_path: str = ".") -> Source:
    """Compile-ready source from a string (``#include`` is relative to ``load_path``)."""
    lines: list[str] = []
    origins: list[tuple[str, int]] = []
    _read_lines(text.split("\n"), name, os.path.abspath(load_path), lines, origins, [name])
    return _make_source(lines, origins)


def _make_source(lines: list[str], origins: list[tuple[str, int]]) -> Source:
    starts = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    return Source("\n".join(lines) + "\n", origins, starts or [0])


def _read_into(
    path: str,
    load_path: str,
    lines: list[str],
    origins: list[tuple[str, int]],
    stack: list[str],
    at: Location | None = None,
) -> None:
    real = os.path.realpath(path)
    if real in stack:
        raise CompileError(f"#include loop: '{path}' includes itself", at)
    try:
        # regular files only, bounded: an #include of a FIFO or /dev/urandom must not hang
        text = read_regular_file(path)
    except FileRefused as e:
        raise CompileError(str(e), at) from None
    _read_lines(text.split("\n"), path, load_path, lines, origins, stack + [real])


def _read_lines(
    raw_lines: Sequence[str],
    path: str,
    load_path: str,
    lines: list[str],
    origins: list[tuple[str, int]],
    stack: list[str],
) -> None:
    if raw_lines and raw_lines[-1] == "":
        raw_lines = raw_lines[:-1]
    for number, raw in enumerate(raw_lines, 1):
        line = raw.rstrip("\r")
        stripped = line.lstrip(" \t")
        if stripped.startswith("#include"):
            at = Location(path, number, len(line) - len(stripped) + 1)
            name = stripped[8:].strip("'\" \t")
            if not name:
                raise CompileError("#include needs a file name", at)
            _include(name, load_path, lines, origins, stack, at)
            continue
        if stripped.startswith("--") or stripped.startswith("#"):
            line = ""  # keep the line so line numbers stay right
        lines.append(line)
        origins.append((path, number))


def _include(
    name: str,
    load_path: str,
    lines: list[str],
    origins: list[tuple[str, int]],
    stack: list[str],
    at: Location,
) -> None:
    if "\0" in name:  # no file has such a name: os.path would raise ValueError
        raise CompileError(f"#include: {name!r} is not a file name", at)
    target = name if os.path.isabs(name) else os.path.join(load_path, name)
    next_load_path = os.path.dirname(target) if os.path.isabs(name) else load_path
    if os.path.isdir(target):
        for entry in sorted(os.listdir(target)):
            full = os.path.join(target, entry)
            if entry.endswith(".dsm") and os.path.isfile(full):
                _read_into(full, next_load_path, lines, origins, stack, at)
        return
    if not os.path.exists(target) and os.path.isfile(target + ".dsm"):
        target += ".dsm"
    _read_into(target, next_load_path, lines, origins, stack, at)


# ---------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    offset: int
    quoted: bool = False


_WS = " \t\n\r"
_SINGLE = ";{}[]"


_BLANKS = re.compile(r"[ \t\n\r]+")
_PLAIN = re.compile(r"[^ \t\n\r;{}\[\]\"'(]+")
_IN_PARENS = re.compile(r"[()\"']")


def tokenize(source: Source) -> list[Token]:
    """Split as SEMS's chart reader does; unterminated quotes/parens are errors."""
    text = source.text
    n = len(text)
    pos = 0
    out: list[Token] = []
    blanks = _BLANKS.match
    plain = _PLAIN.match
    while pos < n:
        m = blanks(text, pos)
        if m is not None:
            pos = m.end()
            if pos >= n:
                break
        ch = text[pos]
        if ch in _SINGLE:
            out.append(Token(ch, pos))
            pos += 1
            continue
        start = end = pos
        while end < n:
            m = plain(text, end)
            if m is not None:
                end = m.end()
                if end >= n:
                    break
            c = text[end]
            if c == '"' or c == "'":
                end = _skip_quote(text, end, source) + 1
            elif c == "(":
                end = _skip_parens(text, end, source) + 1
            else:
                break
        if text[start] in "\"'" and end - start >= 2 and text[end - 1] == text[start]:
            out.append(Token(text[start + 1 : end - 1], start, True))
        else:
            out.append(Token(text[start:end], start))
        pos = end
    return out


def _skip_quote(text: str, pos: int, source: Source) -> int:
    """Index of the quote closing the one at ``pos`` (a backslash escapes it)."""
    quote = text[pos]
    i = text.find(quote, pos + 1)
    while i > 0 and text[i - 1] == "\\":
        i = text.find(quote, i + 1)
    if i < 0:
        raise CompileError(f"unterminated {quote} quote", source.location(pos))
    return i


def _skip_parens(text: str, pos: int, source: Source) -> int:
    """Index of the ')' closing the '(' at ``pos``, skipping quoted text."""
    depth = 0
    search = _IN_PARENS.search
    i = pos + 1
    while True:
        m = search(text, i)
        if m is None:
            raise CompileError("unbalanced '(': missing ')'", source.location(pos))
        i = m.start()
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return i
            depth -= 1
        else:
            i = _skip_quote(text, i, source)
        i += 1


# ---------------------------------------------------------------------------
# Parsing


def split_call(token: str) -> tuple[str, str | None]:
    """``name(params)`` -> ``("name", "params")``; ``name`` -> ``("name", None)``."""
    b = token.find("(")
    if b < 0:
        return token, None
    e = token.rfind(")")
    return token[:b], token[b + 1 : e] if e > b else token[b + 1 :]


@dataclass
class _StateDraft:
    name: str
    location: Location
    enter: tuple = ()
    exit: tuple = ()
    transitions: list[Transition] = field(default_factory=list)


class Compiler:
    """Compiles one script (with its includes) against the available modules.

    ``resolve_module(name, location)`` loads the module for ``import(name)``;
    ``core`` is the core module, tried after the imported ones.
    """

    def __init__(
        self, core: Module, resolve_module: ModuleResolver, preloaded: Iterable[Module] = ()
    ):
        self.core = core
        self.resolve_module = resolve_module
        self.preloaded = tuple(preloaded)
        #: The warnings of the last :meth:`compile_file` / :meth:`compile_text`,
        #: whether it succeeded or raised, in the order they were found.
        self.warnings: list[CompileWarning] = []

    def compile_file(self, path: str, name: str | None = None) -> Diagram:
        self.warnings = []
        source = read_source(path)
        diagram_name = name or os.path.splitext(os.path.basename(path))[0]
        return self._compile(source, diagram_name, path)

    def compile_text(
        self, text: str, name: str = "script", file: str = "<script>", load_path: str = "."
    ) -> Diagram:
        self.warnings = []
        return self._compile(source_from_text(text, file, load_path), name, file)

    # ------------------------------------------------------------------
    def _compile(self, source: Source, name: str, file: str) -> Diagram:
        parser = _Parser(self, source)
        try:
            parser.parse()
        finally:
            self.warnings = parser.warnings
        states = {
            s.name: State(s.name, s.enter, s.exit, tuple(s.transitions), s.location)
            for s in parser.states.values()
        }
        diagram = Diagram(name, file, states, parser.initial, tuple(parser.modules))
        errors = check(diagram, parser)
        if errors:
            raise errors[0] if len(errors) == 1 else CompileErrors(errors)
        return diagram


def check(diagram: Diagram, parser: _Parser) -> list[CompileError]:
    """The consistency check: initial state (an error), target states (warnings).

    SEMS loads a transition to an undefined state and complains only when it
    is taken; the engine does the same (:meth:`donkey.dsm.engine.Engine._fire`),
    so here it is a warning in ``parser.warnings``.
    """
    errors: list[CompileError] = list(parser.errors)
    if diagram.initial is None:
        first = next(iter(parser.states.values()), None)
        at = first.location if first else Location(diagram.file, 1, 1)
        errors.append(CompileError(f"diagram '{diagram.name}' has no initial state", at))
    for state in diagram.states.values():
        for tr in state.transitions:
            if tr.target not in diagram.states:
                parser.warn(
                    f"transition '{tr.name}' leads to unknown state '{tr.target}': "
                    f"taking it runs its actions and stays in state '{tr.source}'",
                    tr.location,
                )
    return errors


def _never(session: Any, event: Any, args: tuple) -> bool:
    """The condition an unreadable test expression becomes, as in SEMS."""
    return False


def _quoted_empty_second(spec: Spec, raw: str) -> tuple | None:
    """``(par1, "")`` when ``raw`` is ``par1 = ""`` for a two-parameter ``spec``.

    :func:`~donkey.dsm.module.parse_args` refuses an empty second parameter;
    written as ``""`` or ``''`` it is deliberate (``set($pin="")`` in SEMS's
    examples), so it stands for the empty string.
    """
    if spec.split in (None, "raw", "list"):
        return None
    sep = spec.split or ""
    par1, par2, found = split_two(raw, sep)
    tail = raw.rstrip(" \t")
    if not found or not par1 or par2 or not tail or tail[-1] not in "\"'":
        return None
    args: tuple = (par1, "")
    if spec.prepare is not None:
        args = spec.prepare(args)
    return args


class _Parser:
    """Recursive-descent over SEMS's token stream."""

    def __init__(self, compiler: Compiler, source: Source):
        self.compiler = compiler
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.modules: list[Module] = list(compiler.preloaded)
        self.functions: dict[str, tuple] = {}
        self.states: dict[str, _StateDraft] = {}
        self.initial: str | None = None
        self.errors: list[CompileError] = []
        self.warnings: list[CompileWarning] = []

    # -- token helpers ----------------------------------------------------
    def loc(self, token: Token | None = None) -> Location:
        if token is None:
            token = self.tokens[self.pos] if self.pos < len(self.tokens) else None
        if token is None:
            return self.source.location(max(0, len(self.source.text) - 1))
        return self.source.location(token.offset)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise CompileError(f"unexpected end of script: expected {what}", self.loc())
        self.pos += 1
        return tok

    def error(self, message: str, token: Token | None = None) -> CompileError:
        return CompileError(message, self.loc(token))

    def warn(self, message: str, at: Token | Location | None = None) -> None:
        location = at if isinstance(at, Location) else self.loc(at)
        self.warnings.append(CompileWarning(message, location))

    # -- top level --------------------------------------------------------
    def parse(self) -> None:
        while True:
            tok = self.peek()
            if tok is None:
                return
            text = tok.text
            if tok.quoted:
                raise self.error(
                    f"unexpected string \"{text}\": expected 'state', "
                    "'transition', 'function' or 'import(...)'",
                    tok,
                )
            if text == ";":
                self.pos += 1
            elif text.startswith("import") and split_call(text)[0] == "import":
                self.pos += 1
                self.parse_import(tok)
            elif text == "initial":
                self.pos += 1
                st = self.next("'state' after 'initial'")
                if st.text != "state":
                    raise self.error(f"expected 'state' after 'initial', got '{st.text}'", st)
                self.parse_state(initial=True, at=tok)
            elif text == "state":
                self.pos += 1
                self.parse_state(initial=False, at=tok)
            elif text == "transition":
                self.pos += 1
                self.parse_transition(tok)
            elif text == "function":
                self.pos += 1
                self.parse_function(tok)
            else:
                raise self.error(
                    f"unexpected '{text}': expected 'state', 'transition', "
                    "'function' or 'import(...)'",
                    tok,
                )

    def parse_import(self, tok: Token) -> None:
        _, name = split_call(tok.text)
        name = (name or "").strip().strip("\"'")
        if not name:
            raise self.error("import() needs a module name", tok)
        module = self.compiler.resolve_module(name, self.loc(tok))
        if module not in self.modules:
            self.modules.append(module)

    def parse_state(self, initial: bool, at: Token) -> None:
        name_tok = self.next("a state name")
        if name_tok.text in (";", "{", "}"):
            raise self.error("expected a state name", name_tok)
        name = name_tok.text
        if name in self.states:
            self.errors.append(self.error(f"state '{name}' is defined twice", name_tok))
        draft = _StateDraft(name, self.loc(name_tok))
        while True:
            tok = self.next(f"';' to end state '{name}'")
            if tok.text == ";":
                break
            if tok.text == "enter":
                draft.enter = self.parse_block(f"enter actions of state '{name}'")
            elif tok.text == "exit":
                draft.exit = self.parse_block(f"exit actions of state '{name}'")
            else:
                raise self.error(
                    f"unexpected '{tok.text}' in state '{name}': "
                    "expected 'enter {', 'exit {' or ';'",
                    tok,
                )
        self.states.setdefault(name, draft)
        if initial:
            if self.initial is not None and self.initial != name:
                self.errors.append(
                    self.error(
                        f"second initial state '{name}' (initial state is '{self.initial}')",
                        name_tok,
                    )
                )
            else:
                self.initial = name

    def parse_function(self, at: Token) -> None:
        tok = self.next("a function name")
        fname, params = split_call(tok.text)
        if params is None or not fname:
            raise self.error(
                "a function needs a name followed by parentheses, e.g. 'function foo()'", tok
            )
        body = self.parse_block(f"body of function '{fname}'")
        self.functions[fname] = body
        after = self.peek()
        if after is not None and after.text == ";":
            self.pos += 1

    def parse_transition(self, at: Token) -> None:
        name_tok = self.next("a transition name")
        name = name_tok.text
        src_tok = self.next(f"the source state of transition '{name}'")
        sources = (
            [s.strip() for s in src_tok.text.strip("()").split(",")]
            if src_tok.text.startswith("(")
            else [src_tok.text]
        )
        conditions: tuple = ()
        actions: tuple = ()
        is_exception = False
        target: str | None = None
        tok = self.next(f"'-', '-->' or '/' in transition '{name}'")
        if tok.text == "-":
            conditions, is_exception, tok = self.parse_conditions(name)
        if tok.text in ("/", "-/"):
            actions = self.parse_actions_until_arrow(name)
            tok = self.next(f"'->' and the target state of transition '{name}'")
        if tok.text not in ("->", "-->"):
            raise self.error(f"expected '->' in transition '{name}', got '{tok.text}'", tok)
        tgt = self.next(f"the target state of transition '{name}'")
        if tgt.text == ";":
            raise self.error(f"transition '{name}' has no target state", tgt)
        target = tgt.text
        end = self.next(f"';' after transition '{name}'")
        if end.text != ";":
            raise self.error(f"expected ';' after transition '{name}', got '{end.text}'", end)
        location = self.loc(name_tok)
        for src in sources:
            draft = self.states.get(src)
            if draft is None:
                self.errors.append(
                    self.error(
                        f"transition '{name}': source state '{src}' is not defined (yet)", src_tok
                    )
                )
                continue
            draft.transitions.append(
                Transition(name, src, conditions, actions, target, is_exception, location)
            )

    def parse_conditions(self, name: str) -> tuple[tuple, bool, Token]:
        """Conditions up to '/' or '->'; returns (conditions, is_exception, end token)."""
        conds: list[Condition] = []
        invert = False
        is_exception = False
        while True:
            tok = self.next(f"conditions, '/' or '->' in transition '{name}'")
            t = tok.text
            if t in ("/", "->", "-/", "-->"):
                return tuple(conds), is_exception, tok
            if t in (";", "{", "}", "[", "]"):
                continue
            if t == "not":
                invert = not invert
                continue
            if t == "exception":
                is_exception = True
                continue
            self._add_condition(conds, tok, invert)
            invert = False

    def parse_actions_until_arrow(self, name: str) -> tuple:
        """A transition's actions: '{ ... }' or bare actions, ended by '->'."""
        tok = self.peek()
        if tok is not None and tok.text == "{":
            self.pos += 1
            actions = self.parse_actions(f"actions of transition '{name}'", ("}",))
            return actions
        return self.parse_actions(f"actions of transition '{name}'", ("->", "-->"), consume=False)

    def parse_block(self, what: str) -> tuple:
        tok = self.next(f"'{{' to start {what}")
        if tok.text != "{":
            raise self.error(f"expected '{{' to start {what}, got '{tok.text}'", tok)
        return self.parse_actions(what, ("}",))

    def parse_actions(self, what: str, enders: tuple[str, ...], consume: bool = True) -> tuple:
        out: list = []
        while True:
            tok = self.peek()
            if tok is None:
                raise self.error(f"unexpected end of script in {what}: missing '{enders[0]}'")
            t = tok.text
            if t in enders and not tok.quoted:
                if consume:
                    self.pos += 1
                return tuple(out)
            self.pos += 1
            if tok.quoted:
                raise self.error(f'unexpected string "{t}" in {what}', tok)
            if t in (";", "{"):
                continue
            if t == "}" and "->" in enders:
                # SEMS ends a bare action list at '}' as at '->'.
                self.warn(f"stray '}}' before '->' in {what} (ignored)", tok)
                return tuple(out)
            if t == "}" or t in ("->", "-->"):
                raise self.error(f"unexpected '{t}' in {what}", tok)
            if t == "if":
                out.append(self.parse_if(tok))
            elif t == "else":
                raise self.error("'else' without 'if'", tok)
            elif t == "for" or t.startswith("for("):
                out.append(self.parse_for(tok))
            else:
                fname, params = split_call(t)
                if params is not None and fname in self.functions:
                    out.extend(self.functions[fname])
                else:
                    try:
                        out.append(self.make_action(tok))
                    except CompileError as e:  # keep going: report every unknown name
                        self.errors.append(e)

    def parse_if(self, at: Token) -> IfBlock:
        conds: list[Condition] = []
        invert = False
        while True:
            tok = self.next("conditions and '{' after 'if'")
            t = tok.text
            if t == "{":
                break
            if t in (";", "[", "]"):
                continue
            if t == "not":
                invert = not invert
                continue
            self._add_condition(conds, tok, invert)
            invert = False
        then = self.parse_actions("the 'if' block", ("}",))
        otherwise: tuple = ()
        nxt = self.peek()
        if nxt is not None and nxt.text == "else":
            self.pos += 1
            otherwise = self.parse_block("the 'else' block")
        return IfBlock(tuple(conds), then, otherwise, self.loc(at))

    def parse_for(self, at: Token) -> ForLoop:
        header = at.text[3:] if at.text != "for" else self.next("'(x in ...)' after 'for'").text
        header = header.strip()
        if len(header) < 2 or header[0] != "(" or header[-1] != ")":
            raise self.error(
                "expected 'for ($x in array)', 'for ($k,$v in struct)' "
                "or 'for ($x in range(a, b))'",
                at,
            )
        inner = header[1:-1]
        parts = inner.split(" in ")
        if len(parts) != 2:
            raise self.error(f"expected 'for (x in ...)', got 'for {header}'", at)
        lhs, rhs = parts[0].strip(), parts[1].strip()
        names = [p.strip().lstrip("$") for p in lhs.split(",")]
        if len(names) == 2:
            kind, key, value, src = "struct", names[0], names[1], rhs
        elif rhs.startswith("range(") and rhs.endswith(")"):
            bounds = [b.strip() for b in rhs[6:-1].split(",")]
            if len(bounds) == 2:
                kind, key, value, src = "range", names[0], bounds[0], bounds[1]
            else:
                kind, key, value, src = "range", names[0], "0", bounds[0]
        else:
            kind, key, value, src = "array", names[0], "", rhs
        if not key:
            raise self.error("empty loop variable in 'for'", at)
        body = self.parse_block("the 'for' body")
        return ForLoop(kind, key, value, src, body, self.loc(at))

    # -- actions and conditions ---------------------------------------------
    def lookup(self, kind: str, name: str) -> Spec | None:
        for module in self.modules:
            table = module.actions if kind == "action" else module.conditions
            spec = table.get(name)
            if spec is not None:
                return spec
        core = self.compiler.core
        return (core.actions if kind == "action" else core.conditions).get(name)

    def make_action(self, tok: Token) -> Action:
        name, params = split_call(tok.text)
        spec = self.lookup("action", name)
        if spec is None:
            raise self.error(f"unknown action '{name}' (missing import?)", tok)
        try:
            args = parse_args(spec, params or "")
        except ValueError as e:
            try:
                tolerated = _quoted_empty_second(spec, params or "")
            except ValueError:
                tolerated = None
            if tolerated is None:
                raise self.error(str(e), tok) from None
            args = tolerated
        return Action(spec, args, tok.text, self.loc(tok))

    def _add_condition(self, conds: list, tok: Token, invert: bool) -> None:
        try:
            conds.append(self.make_condition(tok, invert))
        except CompileError as e:
            self.errors.append(e)

    def make_condition(self, tok: Token, invert: bool) -> Condition:
        name, params = split_call(tok.text)
        spec = self.lookup("condition", name)
        if spec is None:
            raise self.error(f"unknown condition '{name}' (missing import?)", tok)
        try:
            args = parse_args(spec, params or "")
        except ValueError as e:
            if spec.prepare is not compile_test:
                raise self.error(str(e), tok) from None
            # SEMS loads a test expression it cannot read; it never matches.
            self.warn(f"{e}; the condition never matches", tok)
            never = Spec(spec.name, _never, spec.split, spec.optional, None, spec.module)
            return Condition(never, (), invert, tok.text, self.loc(tok))
        return Condition(spec, args, invert, tok.text, self.loc(tok))
