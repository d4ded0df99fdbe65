"""The one DTMF key map: characters ``0-9 * # A-D`` and their numbers 0..15.

RFC 4733 event codes, SIP INFO ``Signal=`` bodies and SEMS's ``#key`` event
parameter all number the keys the same way (``*`` is 10, ``#`` is 11), so
every room converts through here.
"""

from __future__ import annotations

#: The keys in event-code order: ``KEY_CHARS[n]`` is key number ``n``.
KEY_CHARS = "0123456789*#ABCD"


def key_from_char(ch: str) -> int:
    """``'0'-'9' '*' '#' 'A'-'D'`` (either case) -> 0..15; ValueError otherwise."""
    i = KEY_CHARS.find(ch.upper()) if len(ch) == 1 else -1
    if i < 0:
        raise ValueError(f"not a DTMF key: {ch!r}")
    return i


def key_to_char(key: int) -> str:
    """0..15 -> its character; ValueError for any other number."""
    if not 0 <= key < len(KEY_CHARS):
        raise ValueError(f"not a DTMF key number: {key!r}")
    return KEY_CHARS[key]
