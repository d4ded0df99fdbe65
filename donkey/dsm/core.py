"""The core module: the actions and conditions every script has without ``import``.

Registered through the same :class:`~donkey.dsm.module.Module` interface as any
other module.  Semantics follow SEMS's core set, including its quirks where
scripts rely on them (``var()`` creating an empty source variable,
``throwOnError()`` creating ``$strerror``, ``setTimer`` clearing ``$errno``).
Actions that need a call or media go through ``session.call`` /
``session.media``; in a system DSM they throw a ``core`` exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import maybeDeferred
from twisted.logger import LogLevel

from donkey.dsm import events as ev
from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.module import BREAK, REPOST, RETURN, Module, call, jump, unquote
from donkey.dsm.session import SELECTS
from donkey.dsm.values import to_int, to_uint_prefix

core = Module("core")

DSM_LOG_LEVELS = {0: LogLevel.error, 1: LogLevel.warn, 2: LogLevel.info, 3: LogLevel.debug}


def _name(text: str) -> str:
    """A variable name as written after ``set(``: the leading ``$`` is optional."""
    return text[1:] if text.startswith("$") else text


def log_level(text: str) -> LogLevel | None:
    n = to_uint_prefix(text)
    if n is None:
        return None
    return DSM_LOG_LEVELS.get(n, LogLevel.debug)


# ---------------------------------------------------------------------------
# flow


@core.action("repost")
def _repost(session, event, args):
    return REPOST


@core.action("jumpFSM")
def _jump(session, event, args):
    return jump(session.resolve(args[0], event))


@core.action("callFSM")
def _call(session, event, args):
    return call(session.resolve(args[0], event))


@core.action("returnFSM")
def _return(session, event, args):
    return RETURN


@core.action("break")
def _break(session, event, args):
    return BREAK


@core.action("stop")
def _stop(session, event, args):
    session.stop(session.resolve(args[0], event) == "true" if args[0] else True)


@core.action("throw", split=",", optional=True)
def _throw(session, event, args):
    params = {"type": session.resolve(args[0], event)}
    extra = session.resolve(args[1], event)
    if extra:
        for item in extra.split(";"):
            parts = item.split("=")
            if len(parts) == 2:
                params[parts[0]] = parts[1]
    raise DSMException.from_params(params)


@core.action("throwOnError")
def _throw_on_error(session, event, args):
    errno = session.vars.setdefault("errno", "")
    if not errno:
        return
    raise DSMException(errno, text=session.vars.setdefault("strerror", ""))


# ---------------------------------------------------------------------------
# variables


def _assign(session, event, target: str, value: str) -> None:
    """``$var`` (the ``$`` optional) or, with a leading ``#``, an event parameter."""
    if target.startswith("#"):
        if event.params is not None:
            event.params[target[1:]] = value
        return
    session.vars[_name(target)] = value


@core.action("set", split="=")
def _set(session, event, args):
    _assign(session, event, args[0], session.resolve(args[1], event))


@core.action("sets", split="=")
def _sets(session, event, args):
    _assign(session, event, args[0], session.interpolate(args[1], event))


@core.action("eval", split="=")
def _eval(session, event, args):
    session.vars[_name(args[0])] = session.resolve(args[1], event, eval_ops=True)


@core.action("setVar", split="=")
def _set_var(session, event, args):
    session.vars[session.resolve(args[0], event)] = session.resolve(args[1], event)


@core.action("var", split="=")
def _var(session, event, args):
    source = session.resolve(args[1], event)
    session.vars[_name(args[0])] = session.vars.setdefault(source, "")


@core.action("param", split="=")
def _param(session, event, args):
    name = session.resolve(args[1], event)
    session.vars[_name(args[0])] = event.params.get(name, "") if event.params else ""


@core.action("append", split=",")
def _append(session, event, args):
    name = _name(args[0])
    session.vars[name] = session.vars.get(name, "") + session.resolve(args[1], event)


@core.action("substr", split=",")
def _substr(session, event, args):
    name = _name(args[0])
    spec = args[1]
    comma = spec.find(",")
    if comma < 0:
        pos, length = to_uint_prefix(session.resolve(spec, event)), 0
    else:
        pos = to_uint_prefix(session.resolve(spec[:comma], event))
        length = to_uint_prefix(session.resolve(spec[comma + 1 :].strip(" \t"), event))
    if pos is None or length is None:
        session.log.error("substr({args}): position or length is not a number", args=",".join(args))
        return
    value = session.vars.get(name, "")
    if pos > len(value):
        session.log.error("substr: position {pos} beyond '{value}'", pos=pos, value=value)
        return
    session.vars[name] = value[pos : pos + length] if length else value[pos:]


@core.action("inc")
def _inc(session, event, args):
    name = _name(args[0])
    current = to_uint_prefix(session.vars.get(name, "")) or 0
    session.vars[name] = str(current + 1)


@core.action("clear")
def _clear(session, event, args):
    session.vars.pop(_name(args[0]), None)


def _clear_prefix(session, prefix: str) -> None:
    for key in [k for k in session.vars if k.startswith(prefix)]:
        del session.vars[key]


@core.action("clearStruct")
def _clear_struct(session, event, args):
    _clear_prefix(session, _name(args[0]) + ".")


@core.action("clearArray")
def _clear_array(session, event, args):
    _clear_prefix(session, _name(args[0]) + "[")


def array_size(variables: dict[str, str], name: str) -> int:
    """How many ``name[0]``, ``name[1]`` ... exist (``name[i].x`` counts too)."""
    size = 0
    while True:
        head = f"{name}[{size}]"
        if head not in variables and not any(k.startswith(head) for k in variables):
            return size
        size += 1


@core.action("size", split=",")
def _size(session, event, args):
    session.vars[_name(args[1])] = str(array_size(session.vars, _name(args[0])))


@core.action("arrayIndex", split=",")
def _array_index(session, event, args):
    name = _name(args[0])
    value = session.resolve(args[1], event)
    result = "nil"
    i = 0
    while True:
        item = session.vars.get(f"{name}[{i}]")
        if item is None:
            break
        if item == value:
            result = str(i)
            break
        i += 1
    if args[1].startswith("$"):
        session.vars[args[1][1:] + ".index"] = result
    else:
        session.vars["index"] = result


# ---------------------------------------------------------------------------
# logging


@core.action("log", split=",")
def _log(session, event, args):
    level = log_level(session.resolve(args[0], event))
    if level is None:
        session.log.error("unknown log level '{lvl}'", lvl=args[0])
        return
    text = session.resolve(args[1], event)
    session.log.emit(
        level,
        "FSM: {expr} '{text}'",
        dsm_log=True,
        expr=args[1] if args[1] != text else "",
        text=text,
    )


@core.action("logs", split=",")
def _logs(session, event, args):
    level = log_level(session.resolve(args[0], event))
    if level is None:
        session.log.error("unknown log level '{lvl}'", lvl=args[0])
        return
    session.log.emit(level, "FSM: '{text}'", dsm_log=True, text=session.interpolate(args[1], event))


def _fixed_level_log(level: LogLevel):
    def action(session, event, args):
        session.log.emit(
            level, "FSM: '{text}'", dsm_log=True, text=session.interpolate(args[0], event)
        )

    return action


for _n, _lvl in (
    ("dbg", LogLevel.debug),
    ("info", LogLevel.info),
    ("warn", LogLevel.warn),
    ("error", LogLevel.error),
):
    core.action(_n)(_fixed_level_log(_lvl))


def _log_vars(session, event, level: LogLevel) -> None:
    snapshot = dict(sorted(session.vars.items()))
    lines = "\n".join(f"FSM:  ${k}='{v}'" for k, v in snapshot.items())
    session.log.emit(
        level,
        "FSM: variables set ---\n{lines}\nFSM: variables end ---",
        dsm_log=True,
        lines=lines,
        dsm_vars=snapshot,
    )


def _log_params(session, event, level: LogLevel) -> None:
    if event.params is None:
        session.log.emit(level, "FSM: no event params ---", dsm_log=True)
        return
    lines = "\n".join(f"FSM:  #{k}='{v}'" for k, v in sorted(event.params.items()))
    session.log.emit(
        level,
        "FSM: params set ---\n{lines}\nFSM: params end ---",
        dsm_log=True,
        lines=lines,
        dsm_params=dict(event.params),
    )


def _log_selects(session, event, level: LogLevel) -> None:
    lines = "\n".join(f"FSM:  @{s}='{session.select(s)}'" for s in SELECTS)
    session.log.emit(
        level, "FSM: selects set ---\n{lines}\nFSM: selects end ---", dsm_log=True, lines=lines
    )


def _level_action(*writers):
    def action(session, event, args):
        level = log_level(session.resolve(args[0], event))
        if level is None:
            session.log.error("unknown log level '{lvl}'", lvl=args[0])
            return
        for write in writers:
            write(session, event, level)

    return action


core.action("logVars")(_level_action(_log_vars))
core.action("logParams")(_level_action(_log_params))
core.action("logSelects")(_level_action(_log_selects))
core.action("logAll")(_level_action(_log_vars, _log_params, _log_selects))


# ---------------------------------------------------------------------------
# timers


@core.action("setTimer", split=",")
def _set_timer(session, event, args):
    timer_id = to_uint_prefix(session.resolve(args[0], event))
    timeout = to_uint_prefix(session.resolve(args[1], event))
    if timer_id is None:
        session.set_errno("arg", f"timer id '{session.resolve(args[0], event)}' not decipherable\n")
        return
    if timeout is None:
        session.set_errno(
            "arg", f"timeout value '{session.resolve(args[1], event)}' not decipherable\n"
        )
        return
    session.set_timer(timer_id, timeout)
    session.clear_errno()


@core.action("removeTimer")
def _remove_timer(session, event, args):
    timer_id = to_uint_prefix(session.resolve(args[0], event))
    if timer_id is None:
        session.set_errno("arg", f"timer id '{session.resolve(args[0], event)}' not decipherable\n")
        return
    session.remove_timer(timer_id)
    session.clear_errno()


@core.action("removeTimers")
def _remove_timers(session, event, args):
    session.remove_timers()
    session.clear_errno()


# ---------------------------------------------------------------------------
# events between sessions


def event_params_from_vars(variables: dict[str, str], spec: str) -> dict[str, str]:
    """``postEvent``'s variable list: ``a;b;st.`` (struct prefix) or ``var`` (all)."""
    if not spec:
        return {}
    if spec == "var":
        return dict(variables)
    params: dict[str, str] = {}
    for name in spec.split(";"):
        if name.endswith("."):
            for key, value in variables.items():
                if key.startswith(name):
                    params[key] = value
        elif name in variables:
            params[name] = variables[name]
    return params


@core.action("postEvent", split=",", optional=True)
def _post_event(session, event, args):
    target = session.resolve(args[0], event)
    params = event_params_from_vars(session.vars, session.resolve(args[1], event))
    if session.runtime.sessions.post_event(target, Event(ev.EVENT, params)):
        session.clear_errno()
    else:
        session.set_errno("arg", "event could not be posted\n")


@core.action("registerEventQueue")
def _register_queue(session, event, args):
    session.runtime.sessions.register_queue(session.resolve(args[0], event), session)


@core.action("unregisterEventQueue")
def _unregister_queue(session, event, args):
    session.runtime.sessions.unregister_queue(session.resolve(args[0], event), session)


@core.action("createSystemDSM", split=",")
def _create_system_dsm(session, event, args):
    conf = session.resolve(args[0], event)
    script = session.resolve(args[1], event)
    if not conf or not script:
        raise DSMException(
            "core",
            cause="parameters missing - need both conf_name and script_name for createSystemDSM",
        )
    ok, status = session.runtime.create_system_dsm(conf, script)
    if not ok:
        raise DSMException("core", cause=status)


# ---------------------------------------------------------------------------
# DI


def _di_arg(session, event, text: str) -> Any:
    if text.startswith('"'):
        return unquote(text)
    if text.startswith("(int)"):
        value = session.resolve(text[5:], event)
        number = to_int(value)
        if number is None:
            raise ValueError(f"converting value '{value}' to int")
        return number
    if text.startswith("(struct)"):
        prefix = text[8:].lstrip("$") + "."
        result: dict[str, Any] = {}
        for key, value in sorted(session.vars.items()):
            if key.startswith(prefix):
                node = result
                parts = key[len(prefix) :].split(".")
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                    if not isinstance(node, dict):
                        break
                else:
                    node[parts[-1]] = value
        return result
    if text.startswith("(array)"):
        name = text[7:].lstrip("$")
        items = []
        while f"{name}[{len(items)}]" in session.vars:
            items.append(session.vars[f"{name}[{len(items)}]"])
        return items
    if text.startswith("(json)"):
        raw = text[6:]
        raw = unquote(raw) if raw.startswith('"') else session.resolve(raw, event)
        try:
            return json.loads(raw)
        except ValueError:
            session.log.warn("error parsing JSON object '{raw}'", raw=raw)
            return None
    return session.resolve(text, event)


def _result_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _store_di_result(session, result: Any, mode: str) -> None:
    scalar = _result_text(result)
    if scalar is not None:
        session.vars["DI_res"] = scalar
        return
    if not isinstance(result, (list, tuple)):
        return
    for i, item in enumerate(result):
        text = _result_text(item)
        if text is None:
            session.set_errno("arg", "unsupported DI return type")
            continue
        key = f"DI_res{i}" if mode == "DIgetResult" else f"DI_res[{i}]"
        session.vars[key] = text
    if mode == "DIgetResultArray":
        session.vars["DI_res_size"] = str(len(result))


def _di_action(mode: str):
    def action(session, event, args):
        if len(args) < 2:
            session.set_errno("arg", "DI needs at least: interface, function\n")
            return None
        iface = args[0].strip(' "')
        func = args[1].strip(' "')
        try:
            di_args = [_di_arg(session, event, a) for a in args[2:]]
        except ValueError as e:
            session.set_errno("arg", f"{e}\n")
            return None
        session.vars.pop("errno", None)
        registry = session.runtime.di
        if registry is None:
            session.set_errno("config", f"DI call {iface}.{func}: no DI registry here\n")
            return None
        d = maybeDeferred(registry.invoke, iface, func, di_args)

        def done(result):
            session.clear_errno()
            if mode != "DI":
                _store_di_result(session, result, mode)

        def failed(failure):
            kind = getattr(failure.value, "kind", "")
            session.set_errno(
                "config" if kind == "config" else "arg",
                f"DI call {iface}.{func} failed: {failure.getErrorMessage()}\n",
            )

        d.addCallbacks(done, failed)
        return d

    return action


for _mode in ("DI", "DIgetResult", "DIgetResultArray"):
    core.action(_mode, split="list")(_di_action(_mode))


# ---------------------------------------------------------------------------
# objects (garbage collection of rich per-session values)


@core.action("freeObject")
def _free_object(session, event, args):
    name = session.resolve(args[0], event)
    obj = session.objects.pop(name, None)
    if obj is None:
        session.set_errno("arg", f"object '{name}' not found\n")
    elif hasattr(obj, "close"):
        obj.close()


@core.action("trackObject")
def _track_object(session, event, args):
    name = session.resolve(args[0], event)
    if name not in session.objects:
        session.set_errno("arg", f"object '{name}' not found\n")


@core.action("releaseObject")
def _release_object(session, event, args):
    _track_object(session, event, args)


# ---------------------------------------------------------------------------
# media (implemented by session.media; see donkey/media)


def _file_errors(func):
    """Turn a media file error into the ``file`` exception with ``#path``."""

    def wrapper(session, event, args):
        try:
            return func(session, event, args)
        except (OSError, LookupError) as e:
            path = getattr(e, "path", None)
            if path is None:
                path = getattr(e, "filename", None)
            if path is None:
                raise
            raise DSMException("file", path=str(path), text=str(e)) from None

    return wrapper


def _truthy(session, event, text: str) -> bool:
    return session.resolve(text, event) == "true"


@core.action("playFile", split=",", optional=True)
@_file_errors
def _play_file(session, event, args):
    session.require_media("playFile").play_file(
        session.resolve(args[0], event), loop=_truthy(session, event, args[1])
    )


@core.action("playFileFront", split=",", optional=True)
@_file_errors
def _play_file_front(session, event, args):
    session.require_media("playFileFront").play_file(
        session.resolve(args[0], event), loop=_truthy(session, event, args[1]), front=True
    )


def _prompt_action(front: bool, loop: bool, what: str):
    def action(session, event, args):
        name = session.resolve(args[0], event)
        try:
            session.require_media(what).play_prompt(name, front=front, loop=loop)
        except LookupError:
            raise DSMException("prompt", name=name) from None

    return action


core.action("playPrompt")(_prompt_action(False, False, "playPrompt"))
core.action("playPromptFront")(_prompt_action(True, False, "playPromptFront"))
core.action("playPromptLooped")(_prompt_action(False, True, "playPromptLooped"))


@core.action("setPromptSet")
def _set_prompt_set(session, event, args):
    name = session.resolve(args[0], event)
    try:
        session.require_media("setPromptSet").set_prompt_set(name)
    except LookupError:
        raise DSMException("prompt", name=name) from None


def _silence(front: bool, what: str):
    def action(session, event, args):
        ms = to_uint_prefix(session.resolve(args[0], event))
        if ms is None:
            raise DSMException(
                "core", cause=f"cannot parse silence length '{session.resolve(args[0], event)}'"
            )
        session.require_media(what).play_silence(ms, front=front)

    return action


core.action("playSilence")(_silence(False, "playSilence"))
core.action("playSilenceFront")(_silence(True, "playSilenceFront"))


@core.action("playRingtone", split=",", optional=True)
def _play_ringtone(session, event, args):
    name = _name(args[0])
    values = session.vars

    def num(key: str, default: int) -> int:
        n = to_int(values.get(f"{name}.{key}", ""))
        return default if n is None else n

    session.require_media("playRingtone").play_ringtone(
        length_ms=num("length", 0),
        on_ms=num("on", 1000),
        off_ms=num("off", 0),
        f=num("f", 440),
        f2=num("f2", 0),
        front=_truthy(session, event, args[1]),
    )


@core.action("recordFile")
@_file_errors
def _record_file(session, event, args):
    session.require_media("recordFile").record_file(session.resolve(args[0], event))


@core.action("stopRecord")
def _stop_record(session, event, args):
    session.require_media("stopRecord").stop_record()


@core.action("getRecordLength")
def _record_length(session, event, args):
    name = session.resolve(args[0], event) or "record_length"
    session.vars[name] = str(session.require_media("getRecordLength").record_length_ms)


@core.action("getRecordDataSize")
def _record_size(session, event, args):
    name = session.resolve(args[0], event) or "record_data_size"
    session.vars[name] = str(session.require_media("getRecordDataSize").record_data_size)


@core.action("addSeparator", split=",", optional=True)
def _add_separator(session, event, args):
    session.require_media("addSeparator").add_separator(
        session.resolve(args[0], event), front=_truthy(session, event, args[1])
    )


@core.action("monitorRTPTimeout")
def _monitor_rtp_timeout(session, event, args):
    session.require_media("monitorRTPTimeout").monitor_rtp_timeout(_truthy(session, event, args[0]))


def _media_method(method: str, what: str):
    def action(session, event, args):
        getattr(session.require_media(what), method)()

    return action


for _action_name, _method in (
    ("flushPlaylist", "flush_playlist"),
    ("closePlaylist", "flush_playlist"),
    # SEMS's "input" receives the caller's audio and its "output" is what the
    # caller hears; donkey's media names them the other way round.
    ("setInOutPlaylist", "set_in_out_playlist"),
    ("setInputPlaylist", "set_output_playlist"),
    ("setOutputPlaylist", "set_input_playlist"),
    ("connectMedia", "connect"),
    ("disconnectMedia", "disconnect"),
    ("enableReceiving", "enable_receiving"),
    ("disableReceiving", "disable_receiving"),
    ("enableForceDTMFReceiving", "enable_force_dtmf_receiving"),
    ("disableForceDTMFReceiving", "disable_force_dtmf_receiving"),
    ("mute", "mute"),
    ("unmute", "unmute"),
    ("enableDTMFDetection", "enable_dtmf_detection"),
    ("disableDTMFDetection", "disable_dtmf_detection"),
):
    core.action(_action_name)(_media_method(_method, _action_name))


@core.action("sendDTMF", split=",", optional=True)
def _send_dtmf(session, event, args):
    key = session.resolve(args[0], event)
    duration = session.resolve(args[1], event)
    key_n = to_uint_prefix(key)
    if key_n is None:
        raise DSMException("core", cause=f"invalid DTMF:{key}")
    duration_n = 500 if not duration else to_uint_prefix(duration)
    if duration_n is None:
        raise DSMException("core", cause=f"invalid DTMF duration:{duration}")
    session.require_media("sendDTMF").send_dtmf(key_n, duration_n)


@core.action("sendDTMFSequence", split=",", optional=True)
def _send_dtmf_sequence(session, event, args):
    sequence = session.resolve(args[0], event)
    duration = session.resolve(args[1], event)
    duration_n = 500 if not duration else to_uint_prefix(duration)
    if duration_n is None:
        raise DSMException("core", cause=f"invalid DTMF duration:{duration}")
    session.require_media("sendDTMFSequence").send_dtmf_sequence(sequence, duration_n)


# ---------------------------------------------------------------------------
# conditions


@dataclass(frozen=True, slots=True)
class TestExpr:
    """A compiled ``test()`` expression: ``lhs op rhs`` (or always true when empty)."""

    op: str
    lhs: str
    rhs: str
    lhs_len: bool
    rhs_len: bool

    def evaluate(self, session, event) -> bool:
        op = self.op
        if op == "":
            return True
        left = session.resolve(self.lhs, event)
        if self.lhs_len:
            left = str(len(left))
        right = session.resolve(self.rhs, event)
        if self.rhs_len:
            right = str(len(right))
        if op == "==":
            star = right.find("*")
            if star < 0:
                return left == right
            return len(left) >= star and left[:star] == right[:star]
        if op == "!=":
            return left != right
        li, ri = to_int(left), to_int(right)
        if li is not None and ri is not None and left.strip() == left and right.strip() == right:
            return li < ri if op == "<" else li > ri
        return left < right if op == "<" else left > right


def compile_test(args: tuple) -> tuple:
    expr = args[0]
    if not expr.strip():
        return (TestExpr("", "", "", False, False),)
    for op in ("==", "!=", "<", ">"):
        p = expr.find(op)
        if p >= 0:
            lhs = expr[:p].strip(" ")
            rhs = expr[p + len(op) :].strip(" ")
            lhs_len = lhs.startswith("len(") and lhs.endswith(")") and len(lhs) > 5
            rhs_len = rhs.startswith("len(") and rhs.endswith(")") and len(rhs) > 5
            return (
                TestExpr(
                    op,
                    lhs[4:-1] if lhs_len else lhs,
                    rhs[4:-1] if rhs_len else rhs,
                    lhs_len,
                    rhs_len,
                ),
            )
    raise ValueError(f"expression '{expr}' not understood: expected ==, !=, < or >")


@core.condition("test", split="raw", prepare=compile_test)
def _test(session, event, args):
    return args[0].evaluate(session, event)


def _event_condition(event_type: str):
    def condition(session, event, args):
        return event.type == event_type and args[0].evaluate(session, event)

    return condition


EVENT_CONDITIONS = {
    ev.KEY: ("key", "keyTest"),
    ev.TIMER: ("timer", "timerTest"),
    ev.NO_AUDIO: ("noAudio", "noAudioTest"),
    ev.SEPARATOR: ("separator", "separatorTest"),
    ev.HANGUP: ("hangup",),
    ev.EVENT: ("event", "eventTest"),
    ev.B2B_EVENT: ("B2Bevent",),
    ev.INVITE: ("invite",),
    ev.EARLY: ("early", "earlySession"),
    ev.SESSION_START: ("sessionStart",),
    ev.RINGING: ("ringing",),
    ev.FAILED: ("failed",),
    ev.SIP_REQUEST: ("sipRequest",),
    ev.SIP_REPLY: ("sipReply",),
    ev.REMOTE_DISAPPEARED: ("remoteDisappeared",),
    ev.SESSION_TIMEOUT: ("sessionTimeout",),
    ev.RTP_TIMEOUT: ("rtpTimeout",),
    ev.STARTUP: ("startup",),
    ev.START: ("start",),
    ev.BEFORE_DESTROY: ("beforeDestroy",),
    ev.RELOAD: ("reload",),
    ev.SYSTEM: ("system",),
}

for _type, _names in EVENT_CONDITIONS.items():
    _cond = _event_condition(_type)
    for _cname in _names:
        core.condition(_cname, split="raw", prepare=compile_test)(_cond)


@core.condition("keyPress")
def _key_press(session, event, args):
    return event.type == ev.KEY and event.params is not None and event.params.get("key") == args[0]


__all__ = ["core", "TestExpr", "compile_test", "event_params_from_vars", "array_size"]
