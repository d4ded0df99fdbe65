"""Actions on ``$variables``: assignment, strings, counters and arrays."""

from __future__ import annotations

from typing import Any

from donkey.dsm.core.base import core, var_name
from donkey.dsm.values import to_uint_prefix


def _assign(session, event, target: str, value: str) -> None:
    """``$var`` (the ``$`` optional) or, with a leading ``#``, an event parameter."""
    if target.startswith("#"):
        if event.params is not None:
            event.params[target[1:]] = value
        return
    session.vars[var_name(target)] = value


@core.action("set", split="=")
def _set(session: Any, event: Any, args: tuple) -> None:
    _assign(session, event, args[0], session.resolve(args[1], event))


@core.action("sets", split="=")
def _sets(session: Any, event: Any, args: tuple) -> None:
    _assign(session, event, args[0], session.interpolate(args[1], event))


@core.action("eval", split="=")
def _eval(session: Any, event: Any, args: tuple) -> None:
    session.vars[var_name(args[0])] = session.resolve(args[1], event, eval_ops=True)


@core.action("setVar", split="=")
def _set_var(session: Any, event: Any, args: tuple) -> None:
    session.vars[session.resolve(args[0], event)] = session.resolve(args[1], event)


@core.action("var", split="=")
def _var(session: Any, event: Any, args: tuple) -> None:
    source = session.resolve(args[1], event)
    session.vars[var_name(args[0])] = session.vars.setdefault(source, "")


@core.action("param", split="=")
def _param(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[1], event)
    session.vars[var_name(args[0])] = event.params.get(name, "") if event.params else ""


@core.action("append", split=",")
def _append(session: Any, event: Any, args: tuple) -> None:
    name = var_name(args[0])
    session.vars[name] = session.vars.get(name, "") + session.resolve(args[1], event)


@core.action("substr", split=",")
def _substr(session: Any, event: Any, args: tuple) -> None:
    name = var_name(args[0])
    spec = args[1]
    comma = spec.find(",")
    length: int | None
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
def _inc(session: Any, event: Any, args: tuple) -> None:
    name = var_name(args[0])
    current = to_uint_prefix(session.vars.get(name, "")) or 0
    session.vars[name] = str(current + 1)


@core.action("clear")
def _clear(session: Any, event: Any, args: tuple) -> None:
    session.vars.pop(var_name(args[0]), None)


def _clear_prefix(session, prefix: str) -> None:
    for key in [k for k in session.vars if k.startswith(prefix)]:
        del session.vars[key]


@core.action("clearStruct")
def _clear_struct(session: Any, event: Any, args: tuple) -> None:
    _clear_prefix(session, var_name(args[0]) + ".")


@core.action("clearArray")
def _clear_array(session: Any, event: Any, args: tuple) -> None:
    _clear_prefix(session, var_name(args[0]) + "[")


def array_size(variables: dict[str, str], name: str) -> int:
    """How many ``name[0]``, ``name[1]`` ... exist (``name[i].x`` counts too)."""
    size = 0
    while True:
        head = f"{name}[{size}]"
        if head not in variables and not any(k.startswith(head) for k in variables):
            return size
        size += 1


@core.action("size", split=",")
def _size(session: Any, event: Any, args: tuple) -> None:
    session.vars[var_name(args[1])] = str(array_size(session.vars, var_name(args[0])))


@core.action("arrayIndex", split=",")
def _array_index(session: Any, event: Any, args: tuple) -> None:
    name = var_name(args[0])
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
