"""The ``core`` module object that every action file of the package registers on."""

from __future__ import annotations

from donkey.dsm.module import Module

core = Module("core")


def var_name(text: str) -> str:
    """A variable name as written after ``set(``: the leading ``$`` is optional."""
    return text[1:] if text.startswith("$") else text
