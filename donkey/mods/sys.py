"""mod_sys: files, processes and timestamps for DSM scripts.

Actions (``$errno`` is ``""`` on success, ``file`` on a failed file operation):

``sys.mkdir(dir)``, ``sys.mkdirRecursive(dir)``
    Create a directory (mode 0775 before umask); the recursive form also
    creates missing parents and succeeds if the directory exists.
``sys.rename(from, to)``
    Rename, or copy and delete across file systems.
``sys.unlink(file)``
    Delete a file (an empty name does nothing).
``sys.unlinkArray(name, dir)``
    Delete ``dir/$name_0`` .. ``dir/$name_<n-1>`` with ``n = $name_size``
    (``$name[i]`` is used where ``$name_i`` is not set); ``arg`` if
    ``$name_size`` is not a number.
``sys.tmpnam(var)``
    Create an empty temporary file and put its name into ``$var``.
``sys.popen($var="command")``
    Run ``command`` with ``/bin/sh -c``; its standard output goes into
    ``$var`` and the raw wait status (as ``pclose`` returns it: exit code
    times 256) into ``$var.status``.  Asynchronous: the session waits, the
    reactor does not.  Throws ``popen`` if the command cannot be started.
``sys.getTimestamp(var)``
    ``$var.tv_sec`` and ``$var.tv_usec``: the time now.
``sys.subTimestamp(ts1, ts2)``
    ``$ts1 - $ts2`` into ``$ts1.tv_sec``, ``$ts1.tv_usec`` and ``$ts1.msec``.

Conditions:

``sys.file_exists(path)``, ``sys.file_not_exists(path)``
``sys.system(command)``
    True if ``/bin/sh -c command`` exits 0, false if it exits 1 (other
    codes: false, logged).  The command runs as a child process; only the
    session that tests the condition waits for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any, Protocol, cast

from twisted.internet import error, protocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess
from twisted.python.failure import Failure

from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.module import Module
from donkey.dsm.values import to_uint_prefix

module = Module("mod_sys")

E_FILE, E_ARG = "file", "arg"


def _var_name(text: str) -> str:
    return text[1:] if text.startswith("$") else text


def _ok(session: Any) -> None:
    session.clear_errno()


def _file_error(session: Any, what: str, e: OSError) -> None:
    session.log.warn("sys: {what} failed: {err}", what=what, err=e.strerror or str(e))
    session.set_errno(E_FILE, f"{what}: {e.strerror or e}")


# ---------------------------------------------------------------------------
# files


@module.action("sys.mkdir")
def _mkdir(session: Any, event: Event, args: tuple[str, ...]) -> None:
    path = session.resolve(args[0], event)
    try:
        os.mkdir(path, 0o775)
    except OSError as e:
        _file_error(session, f"mkdir '{path}'", e)
        return
    _ok(session)


@module.action("sys.mkdirRecursive")
def _mkdir_recursive(session: Any, event: Event, args: tuple[str, ...]) -> None:
    path = session.resolve(args[0], event)
    try:
        os.makedirs(path, 0o775, exist_ok=True)
    except OSError as e:
        _file_error(session, f"mkdir -p '{path}'", e)
        return
    _ok(session)


@module.action("sys.rename", split=",", optional=True)
def _rename(session: Any, event: Event, args: tuple[str, ...]) -> None:
    src = session.resolve(args[0], event)
    dst = session.resolve(args[1], event)
    try:
        shutil.move(src, dst)  # rename(2), or copy + unlink across file systems
    except OSError as e:
        _file_error(session, f"rename '{src}' to '{dst}'", e)
        return
    _ok(session)


@module.action("sys.unlink")
def _unlink(session: Any, event: Event, args: tuple[str, ...]) -> None:
    path = session.resolve(args[0], event)
    if not path:
        return
    try:
        os.unlink(path)
    except OSError as e:
        _file_error(session, f"unlink '{path}'", e)
        return
    _ok(session)


@module.action("sys.unlinkArray", split=",", optional=True)
def _unlink_array(session: Any, event: Event, args: tuple[str, ...]) -> None:
    name = _var_name(session.resolve(args[0], event))
    if not name:
        return
    directory = session.resolve(args[1], event)
    size_text = session.vars.get(name + "_size", "")
    size = to_uint_prefix(size_text)
    if size is None:
        session.set_errno(E_ARG, f"_size not present/parseable '${name}_size'")
        return
    _ok(session)
    for i in range(size):
        item = session.vars.get(f"{name}_{i}")
        if item is None:
            item = session.vars.get(f"{name}[{i}]", "")
        try:
            os.unlink(directory + "/" + item)
        except OSError as e:
            session.log.debug(
                "sys.unlinkArray: {path}: {err}", path=directory + "/" + item, err=e.strerror
            )
            session.set_errno(E_FILE, f"unlink '{directory}/{item}': {e.strerror}")


@module.action("sys.tmpnam")
def _tmpnam(session: Any, event: Event, args: tuple[str, ...]) -> None:
    name = _var_name(session.resolve(args[0], event))
    try:
        fd, path = tempfile.mkstemp(prefix="donkey_")
    except OSError as e:
        _file_error(session, "tmpnam", e)
        return
    os.close(fd)
    session.vars[name] = path
    _ok(session)


@module.condition("sys.file_exists")
def _file_exists(session: Any, event: Event, args: tuple[str, ...]) -> bool:
    return os.path.exists(session.resolve(args[0], event))


@module.condition("sys.file_not_exists")
def _file_not_exists(session: Any, event: Event, args: tuple[str, ...]) -> bool:
    return not os.path.exists(session.resolve(args[0], event))


# ---------------------------------------------------------------------------
# processes


class _ChildStdin(Protocol):
    """The part of ``IProcessTransport`` used here, as a protocol the type checker follows."""

    def closeStdin(self) -> None: ...


class _Collector(protocol.ProcessProtocol):
    """Collects a child's standard output; fires with ``(output, wait_status)``."""

    def __init__(self, done: Deferred[tuple[bytes, int]]):
        self.done = done
        self.out: list[bytes] = []

    def connectionMade(self) -> None:
        if self.transport is not None:
            cast(_ChildStdin, self.transport).closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        status = getattr(value, "status", None)
        if status is None:
            code = getattr(value, "exitCode", None) or 0
            status = 0 if reason.check(error.ProcessDone) else 256 * code
        self.done.callback((b"".join(self.out), status))


def _process_reactor(session: Any) -> Any:
    reactor = session.runtime.reactor
    if IReactorProcess.providedBy(reactor):
        return reactor
    from twisted.internet import reactor as global_reactor  # a test clock: use the real one

    return global_reactor


@module.action("sys.popen", split="=")
def _popen(session: Any, event: Event, args: tuple[str, ...]) -> Deferred[None]:
    var = _var_name(args[0])
    command = session.resolve(args[1], event)
    done: Deferred[tuple[bytes, int]] = Deferred()
    try:
        _process_reactor(session).spawnProcess(
            _Collector(done),
            "/bin/sh",
            ["/bin/sh", "-c", command],
            env=os.environ,
            childFDs={0: "w", 1: "r", 2: 2},
        )
    except OSError as e:
        raise DSMException("popen", cause=e.strerror or str(e)) from None

    def finished(result: tuple[bytes, int]) -> None:
        output, status = result
        session.vars[var] = output.decode("utf-8", "replace")
        session.vars[var + ".status"] = str(status)

    return done.addCallback(finished)


@module.condition("sys.system")
def _system(session: Any, event: Event, args: tuple[str, ...]) -> Deferred[bool] | bool:
    """Run the command through a process protocol: only this session waits for it."""
    command = session.resolve(args[0], event)
    if not command:
        session.log.error("sys.system: command is empty")
        return False
    done: Deferred[tuple[bytes, int]] = Deferred()
    try:
        _process_reactor(session).spawnProcess(
            _Collector(done),
            "/bin/sh",
            ["/bin/sh", "-c", command],
            env=os.environ,
            childFDs={0: "w", 1: 1, 2: 2},
        )
    except OSError as e:
        session.log.error("sys.system: cannot run '{cmd}': {err}", cmd=command, err=str(e))
        return False

    def finished(result: tuple[bytes, int]) -> bool:
        code = result[1] >> 8 if result[1] & 0x7F == 0 else -1
        if code == 0:
            return True
        if code != 1:
            session.log.error("sys.system: '{cmd}' returned {code}", cmd=command, code=code)
        return False

    return done.addCallback(finished)


# ---------------------------------------------------------------------------
# timestamps


@module.action("sys.getTimestamp")
def _get_timestamp(session: Any, event: Event, args: tuple[str, ...]) -> None:
    name = _var_name(session.resolve(args[0], event))
    now_ns = time.time_ns()
    sec, nsec = divmod(now_ns, 1_000_000_000)
    session.vars[name + ".tv_sec"] = str(sec)
    session.vars[name + ".tv_usec"] = str(nsec // 1000)


def _atol(text: str) -> int:
    """C's atol: leading blanks, a sign, digits; anything else ends the number."""
    t = text.lstrip(" \t\n")
    sign = 1
    if t[:1] in "+-" and t:
        sign = -1 if t[0] == "-" else 1
        t = t[1:]
    digits = ""
    for ch in t:
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0


@module.action("sys.subTimestamp", split=",")
def _sub_timestamp(session: Any, event: Event, args: tuple[str, ...]) -> None:
    t1 = _var_name(session.resolve(args[0], event))
    t2 = _var_name(session.resolve(args[1], event))
    v = session.vars
    usec1 = _atol(v.get(t1 + ".tv_sec", "")) * 1_000_000 + _atol(v.get(t1 + ".tv_usec", ""))
    usec2 = _atol(v.get(t2 + ".tv_sec", "")) * 1_000_000 + _atol(v.get(t2 + ".tv_usec", ""))
    diff = usec1 - usec2
    sec, usec = divmod(diff, 1_000_000)  # usec in 0..999999, as timersub leaves it
    v[t1 + ".tv_sec"] = str(sec)
    v[t1 + ".tv_usec"] = str(usec)
    v[t1 + ".msec"] = str(sec * 1000 + usec // 1000)
