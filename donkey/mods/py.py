"""mod_py: DSM actions and conditions written in Python.

Action
    ``py(code)``        run Python statements (several lines allowed)
Condition
    ``py(expression)``  true if the expression is ``True`` (or a non-zero int)

The code is compiled once, when the script is loaded: a syntax error is a
compile error of the script.  It runs with these names:

``type``
    the event's type as a number, to compare with ``dsm.Timer``, ``dsm.Key`` ...
``params``
    the event's parameters, a ``dict`` of strings (``params['id']``)
``session``
    this session: ``var(name)``, ``setvar(name, value)``, ``select(name)``,
    ``setError(errno)``, ``playPrompt(name[, loop])``, ``playFile(name[, loop[,
    front]])``, ``recordFile(name)``, ``stopRecord()``, ``getRecordLength()``,
    ``getRecordDataSize()``, ``flushPlaylist()``, ``setPromptSet(name)``,
    ``addSeparator(name[, front])``, ``connectMedia()``, ``disconnectMedia()``,
    ``mute()``, ``unmute()``
``dsm``
    ``log(level, msg)``, ``DBG(msg)``, ``INFO(msg)``, ``WARN(msg)``,
    ``ERROR(msg)`` (into the session's log) and the event type numbers
    ``Any``, ``Invite``, ``SessionStart``, ``Key``, ``Timer``, ``NoAudio``,
    ``Hangup``, ``DSMEvent``, ``PlaylistSeparator`` ... (SEMS's values)

Names a snippet defines stay for the session's later ``py()`` actions and
conditions, as in SEMS.  Media errors raise ``RuntimeError`` with the DSM
exception type (``'file'``, ``'prompt'``) for the code to catch, as SEMS
does; any other Python error is logged and the action does nothing more (a
condition is then false): Python errors never become DSM exceptions.

Differences from SEMS, on purpose: Python 3; one namespace per session used
as both globals and locals (functions defined in a snippet see ``session``
and ``dsm``; SEMS shared one ``__main__`` globals dict between all calls);
``setvar`` accepts any value and stores ``str(value)``; preloading
(``preload_mods=mod_py``) is allowed but not required; a snippet whose lines
are all indented is dedented.  ``B2BconnectCallee`` and
``B2BterminateOtherLeg`` raise ``RuntimeError``: donkey's core has no B2B
call handle yet.

The DSM reader sees the snippet first: a line that starts with ``#`` or
``--`` is dropped (so whole-line Python comments are harmless), and quotes
and parentheses must balance, so an apostrophe in an end-of-line comment
(``x = 1  # don't``) breaks the script.
"""

from __future__ import annotations

import builtins
import textwrap
import types
from collections.abc import Callable
from typing import Any

from twisted.logger import LogLevel

from donkey.dsm import events as ev
from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.module import Module
from donkey.dsm.protocols import MediaHandle
from donkey.dsm.session import Session

module = Module("mod_py")

_NAMESPACE = "mod_py.namespace"

# SEMS's DSMCondition::EventType numbers, by donkey event type.
EVENT_NUMBERS: dict[str, int] = {
    ev.START: 1,
    ev.INVITE: 2,
    ev.SESSION_START: 3,
    ev.RINGING: 4,
    ev.EARLY: 5,
    ev.FAILED: 6,
    ev.SIP_REQUEST: 7,
    ev.SIP_REPLY: 8,
    ev.BEFORE_DESTROY: 9,
    ev.HANGUP: 10,
    ev.SESSION_TIMEOUT: 16,
    ev.RTP_TIMEOUT: 17,
    ev.REMOTE_DISAPPEARED: 18,
    ev.KEY: 19,
    ev.TIMER: 20,
    ev.NO_AUDIO: 21,
    ev.SEPARATOR: 22,
    ev.EVENT: 23,
    ev.B2B_EVENT: 24,
    ev.EXCEPTION: 25,
    ev.STARTUP: 29,
    ev.RELOAD: 30,
    ev.SYSTEM: 31,
}

# The names PyDSM offers, with SEMS's numbers.
DSM_CONSTANTS: dict[str, int] = {
    "Any": 0,
    "Start": 1,
    "Invite": 2,
    "SessionStart": 3,
    "Ringing": 4,
    "EarlySession": 5,
    "FailedCall": 6,
    "SipRequest": 7,
    "SipReply": 8,
    "BeforeDestroy": 9,
    "Hangup": 10,
    "Hold": 11,
    "UnHold": 12,
    "B2BOtherRequest": 13,
    "B2BOtherReply": 14,
    "B2BOtherBye": 15,
    "SessionTimeout": 16,
    "RtpTimeout": 17,
    "RemoteDisappeared": 18,
    "Key": 19,
    "Timer": 20,
    "NoAudio": 21,
    "PlaylistSeparator": 22,
    "DSMEvent": 23,
    "B2BEvent": 24,
    "DSMException": 25,
    "XmlrpcResponse": 26,
    "JsonRpcResponse": 27,
    "JsonRpcRequest": 28,
    "Startup": 29,
    "Reload": 30,
    "System": 31,
}

# SEMS log levels (0 error .. 3 debug).
_LEVELS = {0: LogLevel.error, 1: LogLevel.warn, 2: LogLevel.info, 3: LogLevel.debug}


# ---------------------------------------------------------------------------
# compiling, once per script load


def _compile(source: str, mode: str, what: str) -> types.CodeType:
    """Compile ``source``; retry dedented (DSM scripts indent their code)."""
    label = f"<mod_py {what}: '{source.strip()[:60]}'>"
    try:
        return compile(source, label, mode)
    except SyntaxError as first:
        dedented = textwrap.dedent(source)
        if mode == "eval":
            dedented = dedented.strip()
        if dedented != source:
            try:
                return compile(dedented, label, mode)
            except SyntaxError:
                pass
        raise ValueError(
            f"compiling python code '{source.strip()}': {first.msg} (line {first.lineno})"
        ) from None


def _prepare_action(args: tuple[str, ...]) -> tuple[types.CodeType, str]:
    return (_compile(args[0], "exec", "action"), args[0])


def _prepare_condition(args: tuple[str, ...]) -> tuple[types.CodeType, str]:
    return (_compile(args[0].strip(), "eval", "condition"), args[0])


# ---------------------------------------------------------------------------
# what the code sees


class PySession:
    """The ``session`` object of a snippet: this DSM session's variables and media."""

    def __init__(self, session: Session):
        self._session = session

    def var(self, name: str) -> str:
        # SEMS reads with map[], which creates the variable.
        return self._session.vars.setdefault(name, "")

    def setvar(self, name: str, value: Any) -> None:
        self._session.vars[name] = str(value)

    def select(self, name: str) -> str:
        return self._session.select(name)

    def setError(self, errno: int) -> None:
        self._session.set_errno(str(errno))

    def _media(self, what: str) -> MediaHandle:
        try:
            return self._session.require_media(what)
        except DSMException as e:
            raise RuntimeError(e.type) from None

    def _run(self, what: str, exc_type: str, call: Callable[[MediaHandle], object]) -> object:
        media = self._media(what)
        try:
            return call(media)
        except DSMException as e:
            raise RuntimeError(e.type) from None
        except (OSError, LookupError):
            raise RuntimeError(exc_type) from None

    def playPrompt(self, name: str, loop: bool = False) -> None:
        self._run("playPrompt", "prompt", lambda m: m.play_prompt(name, loop=bool(loop)))

    def playFile(self, name: str, loop: bool = False, front: bool = False) -> None:
        self._run(
            "playFile", "file", lambda m: m.play_file(name, loop=bool(loop), front=bool(front))
        )

    def recordFile(self, name: str) -> None:
        self._run("recordFile", "file", lambda m: m.record_file(name))

    def stopRecord(self) -> None:
        self._media("stopRecord").stop_record()

    def getRecordLength(self) -> int:
        return int(self._media("getRecordLength").record_length_ms)

    def getRecordDataSize(self) -> int:
        return int(self._media("getRecordDataSize").record_data_size)

    def flushPlaylist(self) -> None:
        self._media("flushPlaylist").flush_playlist()

    def setPromptSet(self, name: str) -> None:
        self._run("setPromptSet", "prompt", lambda m: m.set_prompt_set(name))

    def addSeparator(self, name: str, front: bool = False) -> None:
        self._media("addSeparator").add_separator(name, front=bool(front))

    def connectMedia(self) -> None:
        self._media("connectMedia").connect()

    def disconnectMedia(self) -> None:
        self._media("disconnectMedia").disconnect()

    def mute(self) -> None:
        self._media("mute").mute()

    def unmute(self) -> None:
        self._media("unmute").unmute()

    def B2BconnectCallee(
        self, remote_party: str, remote_uri: str, relayed_invite: bool = False
    ) -> None:
        raise RuntimeError("B2B calls are not supported by donkey")

    def B2BterminateOtherLeg(self) -> None:
        raise RuntimeError("B2B calls are not supported by donkey")


def _dsm_module(session: Session) -> types.ModuleType:
    """The ``dsm`` module of one session: logging into its log, event numbers."""
    dsm = types.ModuleType("dsm", "DSM functions for mod_py code")
    logger = session.log

    def log(level: int, msg: str) -> None:
        logger.emit(_LEVELS.get(int(level), LogLevel.debug), "{msg}", msg=str(msg).rstrip("\n"))

    def named(level: LogLevel) -> Callable[[str], None]:
        def emit(msg: str) -> None:
            logger.emit(level, "{msg}", msg=str(msg).rstrip("\n"))

        return emit

    vars(dsm).update(
        log=log,
        DBG=named(LogLevel.debug),
        INFO=named(LogLevel.info),
        WARN=named(LogLevel.warn),
        ERROR=named(LogLevel.error),
        **DSM_CONSTANTS,
    )
    return dsm


def namespace(session: Session) -> dict[str, Any]:
    """The session's snippet namespace, made on first use and dropped at its end."""
    ns = session.objects.get(_NAMESPACE)
    if ns is None:
        ns = {
            "__builtins__": builtins,
            "__name__": "__dsm__",
            "session": PySession(session),
            "dsm": _dsm_module(session),
        }
        session.objects[_NAMESPACE] = ns
    return ns


def _run(
    session: Session, event: Event | None, code: types.CodeType, source: str
) -> tuple[bool, Any]:
    """Evaluate ``code``; (ok, result).  Errors are logged, as SEMS prints them."""
    ns = namespace(session)
    ns["type"] = EVENT_NUMBERS.get(event.type, 0) if event is not None else 0
    ns["params"] = dict(event.params or {}) if event is not None else {}
    try:
        return True, eval(code, ns)
    except Exception as e:  # noqa: BLE001 - any error in user code is reported, not raised
        session.log.error(
            "mod_py: error in '{source}': {error}",
            source=source.strip(),
            error=f"{type(e).__name__}: {e}",
        )
        return False, None
    finally:
        ns.pop("type", None)
        ns.pop("params", None)


@module.action("py", split="raw", prepare=_prepare_action)
def _py_action(session: Session, event: Event, args: tuple[types.CodeType, str]) -> None:
    _run(session, event, args[0], args[1])


@module.condition("py", split="raw", prepare=_prepare_condition)
def _py_condition(session: Session, event: Event, args: tuple[types.CodeType, str]) -> bool:
    ok, result = _run(session, event, args[0], args[1])
    if not ok:
        return False
    if isinstance(result, bool):
        return result
    if isinstance(result, int):
        return result != 0
    session.log.error(
        "mod_py: condition '{source}' gave {kind}, not True/False",
        source=args[1].strip(),
        kind=type(result).__name__,
    )
    return False
