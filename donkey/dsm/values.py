"""How DSM argument text becomes a value: ``$var``, ``#param``, ``@select``.

Two readings exist, as in SEMS:

* :func:`resolve` reads a whole argument as *one* reference: ``$a.b`` is the
  variable ``a.b``, ``#key`` the event parameter, ``@user`` a select, and
  anything else is literal text (surrounding double quotes removed).
* :func:`interpolate` (``sets``, ``logs``, ``dbg`` ...) replaces every
  ``$name``, ``$(name)``, ``#name``, ``@name`` inside a text, and turns the
  doubled ``$$ ## @@`` into single characters.

Variables are one flat ``dict[str, str]``: arrays and structs are just names
such as ``arr[0]`` and ``st.x``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from donkey.dsm.events import Event

# The characters that end a name inside an interpolated text.
_NAME_END = frozenset(" ,()[]$#@\t;:'\"")


def is_number(text: str) -> bool:
    """Digits only (no sign), as SEMS's eval checks."""
    return text.isdigit() and text.isascii()


def to_int(text: str) -> int | None:
    """Parse like C's strtol on the whole string: optional sign, digits, nothing else."""
    t = text.strip(" \t")
    if not t:
        return None
    body = t[1:] if t[0] in "+-" else t
    if not body.isdigit() or not body.isascii():
        return None
    return int(t)


def to_uint_prefix(text: str) -> int | None:
    """Parse an unsigned number allowing leading blanks (SEMS's str2i)."""
    t = text.lstrip(" \t")
    digits = ""
    for ch in t:
        if "0" <= ch <= "9":
            digits += ch
        else:
            break
    if not digits or digits != t.rstrip(" \t"):
        return None
    return int(digits)


def resolve(session, text: str, event: Event | None, eval_ops: bool = False) -> str:
    """The value of one argument; see the module docstring."""
    if not text:
        return text
    if eval_ops:
        s = text.replace(" ", "")
        p = s.find("-")
        if p >= 0:
            a = resolve(session, s[:p], event, True)
            b = resolve(session, s[p + 1 :], event, True)
            if is_number(a) and is_number(b):
                return str(int(a) - int(b))
        else:
            p = s.find("+")
            if p >= 0:
                a = resolve(session, s[:p], event, True)
                b = resolve(session, s[p + 1 :], event, True)
                if is_number(a) and is_number(b):
                    return str(int(a) + int(b))
        text = s
        if not text:
            return text
    first = text[0]
    if first == "$":
        if text[1:2] == "$":
            return "$"
        return session.vars.get(text[1:], "")
    if first == "#":
        if text[1:2] == "#":
            return "#"
        params = event.params if event is not None else None
        if params is None:
            return ""
        return params.get(text[1:], "")
    if first == "@":
        if text[1:2] == "@" or len(text) < 2:
            return "@"
        return session.select(text[1:])
    return text.strip('"')


def interpolate(session, text: str, event: Event | None) -> str:
    """Replace every reference inside ``text`` (``sets``/``logs`` semantics)."""
    if "$" not in text and "#" not in text and "@" not in text:
        return text
    params: Mapping[str, str] | None = event.params if event is not None else None
    variables = session.vars
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch not in "$#@":
            out.append(ch)
            i += 1
            continue
        orig = i
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == ch:  # $$ ## @@ -> one literal character
            out.append(ch)
            i += 2
            continue
        if i > 0 and text[i - 1] == "\\":  # escaped: keep as written
            out.append(ch)
            i += 1
            continue
        if nxt in ("(", '"', "'"):
            start = i + 2
        else:
            start = i + 1
        end = start
        while end < n and text[end] not in _NAME_END:
            end += 1
        name = text[start:end]
        if nxt in ("(", '"', "'"):
            closer = ")" if nxt == "(" else nxt
            if end < n and text[end] == closer:
                end += 1
            else:  # not a bracketed name after all
                name = text[i + 1 : end]
        i = end
        if ch == "$":
            out.append(variables.get(name, ""))
        elif ch == "#":
            if params is None:  # no event parameters at all: SEMS leaves the text
                out.append(text[orig:end])
            else:
                out.append(params.get(name, ""))
        else:
            out.append(resolve(session, "@" + name, event))
    return "".join(out)
