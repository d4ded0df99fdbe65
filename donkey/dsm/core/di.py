"""The ``DI`` actions: calling a DI interface function from a script, and keeping its result."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure

from donkey.dsm.core.base import core
from donkey.dsm.module import ActionFunc, unquote
from donkey.dsm.values import to_int


def _di_arg(session: Any, event: Any, text: str) -> Any:
    """One DI argument: ``"literal"``, ``(int)``, ``(struct)``, ``(array)``, ``(json)`` or a value."""
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
        items: list[str] = []
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
    """A scalar DI result as DSM text, or ``None`` for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _store_di_result(session: Any, result: Any, mode: str) -> None:
    """``$DI_res``, ``$DI_res0..`` or ``$DI_res[0..]`` as ``mode`` asks."""
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


def _di_action(mode: str) -> ActionFunc:
    """``DI``, ``DIgetResult`` or ``DIgetResultArray``: the call, and where its result goes."""

    def action(session: Any, event: Any, args: tuple) -> Deferred | None:
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

        def done(result: Any) -> None:
            session.clear_errno()
            if mode != "DI":
                _store_di_result(session, result, mode)

        def failed(failure: Failure) -> None:
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
