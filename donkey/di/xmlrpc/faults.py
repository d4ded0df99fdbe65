"""SEMS's XML-RPC fault codes, and the one mapping of whatever went wrong onto them."""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.xmlrpc import Fault

from donkey.di.registry import DIArgumentError, DIError, DINotImplemented

# Fault codes, as SEMS's xmlrpc2di/XmlRpc++ use them.
FAULT_UNKNOWN_METHOD = -1
FAULT_ARGS = 300
FAULT_BAD_REQUEST = 400
FAULT_FAILURE = 500
FAULT_NOT_IMPLEMENTED = 504

_log = Logger()


def to_fault(reason: Failure | BaseException) -> Fault:
    """Turn whatever went wrong into a fault with a useful message.

    Errors the DI layer names get their SEMS code; anything unexpected is
    logged with its traceback and answered as a ``500``.
    """
    exc = reason.value if isinstance(reason, Failure) else reason
    if isinstance(exc, Fault):
        return exc
    if isinstance(exc, DINotImplemented):
        return Fault(FAULT_NOT_IMPLEMENTED, f"not implemented: {exc.message}")
    if isinstance(exc, DIArgumentError):
        return Fault(FAULT_ARGS, f"bad arguments: {exc.message}")
    if isinstance(exc, DIError):
        return Fault(FAULT_FAILURE, f"{exc.kind} error: {exc.message}")
    if isinstance(exc, (defer.TimeoutError, defer.CancelledError)):
        return Fault(FAULT_FAILURE, "timed out waiting for the function's result")
    if isinstance(reason, Failure):
        _log.failure("XML-RPC method raised", reason)
    else:
        _log.failure("XML-RPC method raised", Failure(exc))
    return Fault(FAULT_FAILURE, f"Exception: {type(exc).__name__}: {exc}")
