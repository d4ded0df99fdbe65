"""Errors of the DSM language: compile errors carry a location, DSM exceptions carry params."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a token came from, after ``#include`` expansion."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class CompileError(Exception):
    """A script that cannot be compiled or fails the consistency check.

    ``str(err)`` is ``file:line:col: message``, the format editors understand.
    """

    def __init__(self, message: str, location: Location | None = None):
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class CompileErrors(CompileError):
    """Several problems found in one pass (the checker reports all of them)."""

    def __init__(self, errors: list[CompileError]):
        super().__init__("\n".join(str(e) for e in errors), errors[0].location if errors else None)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class DSMException(Exception):
    """An exception thrown inside a DSM: handled by ``exception`` transitions.

    Its fields become the event parameters (``#type``, ``#text``, ...) of the
    exception event, as in SEMS.
    """

    def __init__(self, type: str, **params: str):
        super().__init__(type)
        self.params: dict[str, str] = {"type": type}
        for key, value in params.items():
            self.params[key] = str(value)

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DSMException:
        exc = cls(params.get("type", ""))
        exc.params = dict(params)
        return exc

    @property
    def type(self) -> str:
        return self.params.get("type", "")

    def __repr__(self) -> str:
        return f"DSMException({self.params!r})"


class SessionAborted(Exception):
    """The engine gave up on a session (runaway repost or exception loop)."""
