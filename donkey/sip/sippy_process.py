"""Everything sippy forces on the whole process, in one place.

sippy was written for a process that *is* one SIP user agent, so it keeps
its configuration and its event loop in module globals that every sippy
module reads.  donkey cannot avoid them; this module is the only code in
:mod:`donkey.sip` that writes them, so what is process-wide is listed here:

* ``sippy.Core.EventDispatcher.ED2``: sippy's single event dispatcher.
  Every sippy module binds that *same* object at import time, so rebinding
  the name is useless; :func:`install` replaces its ``regTimer``,
  ``callFromThread``, ``callFromThreadSync``, ``breakLoop`` and ``loop``
  methods with those of a :class:`~donkey.sip.reactor_bridge.TimerBridge` on
  one ``IReactorTime``.  There is one bridge per process; installing another
  reactor (tests use ``task.Clock``) re-targets it.
* ``sippy.SipConf.SipConf.my_address`` / ``my_port``: the default host and
  port sippy writes into every Via, Contact, From and SDP origin it builds
  itself.  :func:`set_local_address` sets them to the stack's socket, so one
  SIP address per process is what sippy supports.
* The ``SIGURG`` signal mask: importing sippy blocks ``SIGURG`` (its
  ElPeriodic helper uses it for wake-ups we never need) and a blocked mask
  is inherited by child processes (``sipp``, media helpers), so
  :func:`unblock_sigurg` undoes it on import and on every :func:`install`.
* ``SIPLOG_BEND`` in the environment: a stock ``SipLogger`` would write
  every SIP message to stderr; ``none`` silences any that gets made (the
  transaction manager gets a
  :class:`~donkey.sip.reactor_bridge.TwistedSipLogger` instead).
* A module-global ``dir`` in a few sippy modules (:func:`speed_up_sippy`):
  their message formatting asks ``'my' in dir(value)`` for every URI and
  Via, and ``dir(str)`` builds an 80-name list each time (~0.5 ms per
  call at 40 uses per message).
* ``dump_exception`` in ``sippy.SipTransactionManager``: sippy prints a
  message it cannot parse, whole and with a traceback, to stdout (1,000 bad
  requests wrote 61 MB).  :func:`route_sippy_errors` replaces it with a
  call to one sink (the transaction manager's rate-limited one-line log),
  which also learns that sippy gave up on the datagram.

All of it is done on the reactor thread, before or while the stack starts.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from donkey.sip.reactor_bridge import TimerBridge

# Before any SipLogger is made (sippy reads it in SipLogger.__init__).
os.environ.setdefault("SIPLOG_BEND", "none")

from sippy.Core import EventDispatcher as _event_dispatcher  # noqa: E402
from sippy.SipConf import SipConf  # noqa: E402

_log = Logger(namespace="donkey.sip.sippy")

#: sippy's process-wide event dispatcher (see the module docstring).
ED2 = _event_dispatcher.ED2

_BRIDGED = ("regTimer", "callFromThread", "callFromThreadSync", "breakLoop", "loop")

#: sippy modules whose formatting calls ``dir()`` per value (see above).
_DIR_HOT_MODULES = ("sippy.SipURL", "sippy.SipVia", "sippy.SipConf", "sippy.SdpOrigin")


class _AttrProbe:
    """What ``dir(x)`` is used for in sippy: ``'my' in dir(x)``."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __contains__(self, name: str) -> bool:
        return hasattr(self.obj, name)


def _probe_dir(*args: Any) -> Any:
    if len(args) != 1:
        return dir(*args)
    return _AttrProbe(args[0])


#: ``sink(what, exception)``: where sippy's parse failures go.
ErrorSink = Callable[[str, BaseException | None], None]


class _Process:
    """The one bridge and error sink of this process (a holder, so no ``global``)."""

    bridge: TimerBridge | None = None
    error_sink: ErrorSink | None = None


def _sippy_exception(msg: Any, f: Any = None, extra: Any = None) -> None:
    """sippy's ``dump_exception``: one line to the sink, never the message or a traceback."""
    exception = sys.exc_info()[1]
    sink = _Process.error_sink
    if sink is not None:
        sink(str(msg), exception)
    else:
        _log.warn("sippy: {msg}: {ex!r}", msg=str(msg)[:200], ex=exception)


def route_sippy_errors(sink: ErrorSink | None) -> None:
    """Send sippy's transaction-layer error reports to *sink* (None: a plain log line)."""
    importlib.import_module("sippy.SipTransactionManager").dump_exception = _sippy_exception  # type: ignore[attr-defined]
    _Process.error_sink = sink


def speed_up_sippy() -> None:
    """Shadow ``dir`` in sippy's hot formatting modules with a cheap probe."""
    for name in _DIR_HOT_MODULES:
        importlib.import_module(name).dir = _probe_dir  # type: ignore[attr-defined]


def unblock_sigurg() -> None:
    """Undo the SIGURG block sippy's import left on this thread."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGURG})


def install(reactor: Any = None) -> TimerBridge:
    """Point sippy's event dispatcher at *reactor* (default: the global one).

    Idempotent for the same reactor; calling again with another reactor
    re-targets the bridge.
    """
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    unblock_sigurg()
    speed_up_sippy()
    current = _Process.bridge
    if current is not None and current.reactor is reactor:
        return current
    bridge = TimerBridge(reactor)
    for name in _BRIDGED:
        setattr(ED2, name, getattr(bridge, name))
    _Process.bridge = bridge
    return bridge


def installed() -> TimerBridge | None:
    """The bridge sippy's timers currently run on, if any."""
    return _Process.bridge


def set_local_address(ip: str, port: int) -> None:
    """Make *ip*:*port* the address sippy puts in the messages it builds."""
    SipConf.my_address = ip
    SipConf.my_port = port


unblock_sigurg()
