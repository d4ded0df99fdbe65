"""What a query brings back, and how column values become DSM strings."""

from __future__ import annotations

from typing import Any


class DBResult:
    """A fetched result: column labels and rows of Python values."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: list[str], rows: list[tuple]) -> None:
        self.columns = columns
        self.rows = rows

    def close(self) -> None:
        """For ``freeObject``: nothing to release."""


def as_text(value: Any) -> str:
    """A column value as a DSM string (NULL is empty, as SEMS's getString)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def as_bytes(value: Any) -> bytes:
    """A column value as the bytes written to a file (NULL is empty)."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")
