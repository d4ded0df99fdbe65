"""Binding a parsed statement to a session's values, per call.

:func:`render` turns a :class:`~donkey.mods.mysql.statements.Template` into
``(sql, params)`` for the connection's dialect; the action modules compile
their statement argument once through :func:`prepare_query`.
"""

from __future__ import annotations

import re
from typing import Any

from pymysql.converters import escape_string

from donkey.mods.mysql.statements import (
    FILE_MARK,
    Raw,
    Ref,
    Template,
    Word,
    merge,
    parse_query,
)

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})\Z")


class FileValue:
    """A bound value holding ``__FILE__``: completed in the DB thread."""

    __slots__ = ("parts",)

    def __init__(self, parts: list) -> None:
        self.parts = parts

    def build(self, data: bytes) -> bytes:
        """The value with the file's bytes in place of ``__FILE__``."""
        return b"".join(data if isinstance(p, Ref) else p.encode("utf-8") for p in self.parts)


def render(
    template: Template, session: Any, event: Any, dialect: str, with_file: bool = False
) -> tuple[str, list]:
    """``(sql, params)`` for ``dialect`` (``mysql``: ``%s``, ``sqlite``: ``?``)."""
    mark = "%s" if dialect == "mysql" else "?"
    out: list[str] = []
    params: list = []

    def esc(s: str) -> str:
        return s.replace("%", "%%") if dialect == "mysql" else s

    def value(parts: list) -> Any:
        vals: list = []
        file_seen = False
        for p in parts:
            if isinstance(p, Ref):
                if p.kind == "F":
                    if with_file:
                        file_seen = True
                        vals.append(p)
                    else:
                        vals.append(FILE_MARK)
                else:
                    vals.append(session.resolve(p.kind + p.name, event))
            else:
                vals.append(p)
        if file_seen:
            return FileValue(merge(vals))
        return "".join(vals)

    for seg in template.segments:
        cls = seg.__class__
        if cls is Raw:
            out.append(esc(seg.text))
        elif cls is Word:
            if not with_file and all(not isinstance(p, Ref) or p.kind == "F" for p in seg.parts):
                out.append(esc(seg.raw))
                continue
            v = value(seg.parts)
            if seg.count and isinstance(v, str) and _INT.match(v):
                v = int(v)
            out.append(mark)
            params.append(v)
        else:
            files = with_file and any(isinstance(p, Ref) and p.kind == "F" for p in seg.parts)
            bind = (
                seg.has_vars
                or files
                or (dialect == "sqlite" and (seg.quote == '"' or "\\" in seg.raw))
            )
            if bind:
                out.append(mark)
                params.append(value(seg.parts))
            else:
                out.append(esc(seg.raw))
    return "".join(out), params


def inline(sql: str, params: list) -> str:
    """A ``mysql``-dialect statement with its values written in (debugging only)."""

    def lit(v: Any) -> str:
        if isinstance(v, int):
            return str(v)
        if isinstance(v, FileValue):
            v = "".join("__FILE__" if isinstance(p, Ref) else p for p in v.parts)
        return "'" + escape_string(str(v)) + "'"

    return sql % tuple(lit(v) for v in params)


def prepare_query(args: tuple) -> tuple:
    """Compile the statement (first argument) once, at load time."""
    text = args[0]
    return (parse_query(text),) + tuple(args[1:])


def prepare_raw_query(args: tuple) -> tuple:
    """Compile a whole-argument statement (``split="raw"``), quotes around it dropped."""
    return prepare_query((_strip_outer_quotes(args[0].strip(" \t\r\n")),))


def _strip_outer_quotes(text: str) -> str:
    """Remove quotes around the whole argument (not a quote that only starts it)."""
    if len(text) >= 2 and text[0] in "\"'" and text[-1] == text[0]:
        inner = text[1:-1]
        q = text[0]
        # Only if the quotes really enclose everything (no unescaped quote inside).
        i = 0
        while i < len(inner):
            if inner[i] == "\\":
                i += 2
                continue
            if inner[i] == q:
                return text
            i += 1
        return inner.replace("\\" + q, q)
    return text
