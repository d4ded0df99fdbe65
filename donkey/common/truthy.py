"""The one reading of a configuration switch (``yes``/``no`` and friends)."""

from __future__ import annotations

_TRUE = frozenset({"yes", "true", "1", "on"})
_FALSE = frozenset({"no", "false", "0", "off"})


def truthy(value: str | None, default: bool = False) -> bool:
    """``yes``, ``true``, ``1``, ``on`` (any case, blanks around) are true.

    An empty or missing value is ``default``; so is anything unrecognised,
    which keeps a typo from silently turning a feature off that defaults on.
    """
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return default
