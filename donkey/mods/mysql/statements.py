"""Statement templates: a script's SQL text parsed once, at load time.

The parser splits a statement into raw SQL, bare words holding references
and quoted literals, so that :mod:`donkey.mods.mysql.binding` can send every
``$var``/``#param``/``@select`` as a bound parameter, never as SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

# The @selects a statement may bind; any other @name is a MySQL user variable.
_SELECTS = frozenset(
    {
        "local_tag",
        "user",
        "domain",
        "remote_tag",
        "callid",
        "local_uri",
        "local_party",
        "remote_uri",
        "remote_party",
    }
)


@dataclass(frozen=True, slots=True)
class Ref:
    """``$name`` / ``#name`` / ``@name`` (kind is the sigil), or ``__FILE__`` (kind ``F``)."""

    kind: str
    name: str = ""


@dataclass(slots=True)
class Raw:
    """SQL sent as written."""

    text: str


@dataclass(slots=True)
class Word:
    """A bare word holding references: sent as one bound value.

    ``count`` marks a LIMIT/OFFSET operand, where SQL wants an integer
    literal; elsewhere values go as strings, which MySQL converts for
    numeric columns without losing the index (a number compared with a
    VARCHAR column would).
    """

    raw: str
    parts: list = field(default_factory=list)
    count: bool = False


@dataclass(slots=True)
class Lit:
    """A quoted literal as the script wrote it; ``parts`` is its decoded value."""

    quote: str
    raw: str
    parts: list = field(default_factory=list)

    @property
    def has_vars(self) -> bool:
        return any(isinstance(p, Ref) and p.kind != "F" for p in self.parts)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed statement: its text, its segments, and whether it holds ``__FILE__``."""

    text: str
    segments: tuple
    has_file: bool


# Characters that end a reference name: SEMS's set plus operators and line ends
# (so ``$n-1`` in SQL is ``$n`` minus one, not a variable named ``n-1``).
_NAME_END = frozenset(" \t\r\n,()$#@;'\"`=<>!+-*/%|&^~\\")
# Characters that end a bare word (a reference glued to text binds the whole word).
_WORD_END = frozenset(" \t\r\n,();=<>!+-*/%|&^~'\"`")
# Raw SQL ending like this puts the next bare value in a LIMIT/OFFSET position.
_COUNT_CONTEXT = re.compile(r"(?is)(?:\blimit\s+(?:\S+\s*,\s*)?|\boffset\s+)\Z")
_MYSQL_ESCAPES = {
    "0": "\0",
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "Z": "\x1a",
    "%": "\\%",
    "_": "\\_",
}
FILE_MARK = "__FILE__"


def parse_query(text: str) -> Template:
    """Split a statement into raw SQL, bare words with references, and literals.

    Literals follow MySQL's rules (backslash escapes, doubled quotes).
    Raises ValueError for an unterminated literal or a reference inside a
    back-quoted identifier.
    """
    segs: list = []
    raw: list[str] = []  # pending raw SQL
    i, n = 0, len(text)
    has_file = False

    def flush_raw() -> None:
        if raw:
            segs.append(Raw("".join(raw)))
            raw.clear()

    def read_ref(pos: int) -> tuple[Ref | str, int]:
        """A reference at ``pos`` (a sigil), or the literal text it stands for."""
        sigil = text[pos]
        if pos + 1 < n and text[pos + 1] == sigil:
            if sigil == "@":  # @@system_variable: keep as written
                end = pos + 2
                while end < n and text[end] not in _NAME_END:
                    end += 1
                return text[pos:end], end
            return sigil, pos + 2
        end = pos + 1
        while end < n and text[end] not in _NAME_END:
            end += 1
        name = text[pos + 1 : end]
        if not name:
            return sigil, end
        if sigil == "@" and name not in _SELECTS:
            return text[pos:end], end  # a MySQL user variable
        return Ref(sigil, name), end

    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "$#@":
            raw.append(text[i + 1])
            i += 2
        elif ch in "'\"":
            lit, i = _read_literal(text, i, read_ref)
            if any(isinstance(p, Ref) and p.kind == "F" for p in lit.parts):
                has_file = True
            flush_raw()
            segs.append(lit)
        elif ch == "`":
            end = text.find("`", i + 1)
            while end >= 0 and text[end + 1 : end + 2] == "`":
                end = text.find("`", end + 2)
            if end < 0:
                raise ValueError(f"unterminated ` in query '{text}'")
            ident = text[i : end + 1]
            if any(s in ident for s in "$#"):
                raise ValueError(f"a reference inside the identifier {ident} cannot be bound")
            raw.append(ident)
            i = end + 1
        elif ch in "$#@" or text.startswith(FILE_MARK, i):
            # Take back the word characters just before the reference.
            pending = "".join(raw)
            k = len(pending)
            while k > 0 and pending[k - 1] not in _WORD_END:
                k -= 1
            prefix = pending[k:]
            raw.clear()
            if pending[:k]:
                raw.append(pending[:k])
            parts: list = [prefix] if prefix else []
            word_start = i - len(prefix)
            j = i
            found = False
            while j < n and text[j] not in _WORD_END:
                if text[j] == "\\" and j + 1 < n and text[j + 1] in "$#@":
                    parts.append(text[j + 1])
                    j += 2
                elif text[j] in "$#@":
                    item, j = read_ref(j)
                    parts.append(item)
                    found = found or isinstance(item, Ref)
                elif text.startswith(FILE_MARK, j):
                    parts.append(Ref("F"))
                    has_file = True
                    found = True
                    j += len(FILE_MARK)
                else:
                    parts.append(text[j])
                    j += 1
            if found:
                before = "".join(getattr(s, "text", None) or s.raw for s in segs[-3:]) + "".join(
                    raw
                )
                flush_raw()
                segs.append(
                    Word(text[word_start:j], merge(parts), bool(_COUNT_CONTEXT.search(before)))
                )
            else:
                raw.append("".join(p for p in parts))
            i = j
        else:
            raw.append(ch)
            i += 1
    flush_raw()
    return Template(text, tuple(segs), has_file)


def _read_literal(
    text: str, pos: int, read_ref: Callable[[int], tuple[Ref | str, int]]
) -> tuple[Lit, int]:
    """The literal opening at ``pos``, decoded by MySQL's rules, and where it ends."""
    quote = text[pos]
    parts: list = []
    i, n = pos + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            parts.append(_MYSQL_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == quote:
            if text[i + 1 : i + 2] == quote:  # doubled quote
                parts.append(quote)
                i += 2
                continue
            return Lit(quote, text[pos : i + 1], merge(parts)), i + 1
        elif ch in "$#@":
            item, i = read_ref(i)
            parts.append(item)
        elif text.startswith(FILE_MARK, i):
            parts.append(Ref("F"))
            i += len(FILE_MARK)
        else:
            parts.append(ch)
            i += 1
    raise ValueError(f"unterminated {quote} in query '{text}'")


def merge(parts: list) -> list:
    """Join adjacent plain strings."""
    out: list = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out
