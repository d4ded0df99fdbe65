"""Dynamic Invocation: the registry of named interfaces and its XML-RPC face."""

from donkey.di.registry import (
    DIArgumentError,
    DIError,
    DIInterface,
    DINotImplemented,
    DIRegistry,
)

__all__ = ["DIArgumentError", "DIError", "DIInterface", "DINotImplemented", "DIRegistry"]
