"""The ``monitoring`` DI interface: a store under SEMS's function names and result shapes.

The store (:class:`~donkey.monitoring.store.MonitoringStore`) is plain
Python with snake_case methods; this adapter is where SEMS's spellings
(``markFinished``, ``getAttributeActive`` ...) and argument checks live.

Those conventions are what XML-RPC clients see (e.g. ``s.get(id)`` answers
``[{attr: value}]`` or ``[]``, ``s.getAttributeActive('dsm_state')`` answers
``[[id, value], ...]``, writers answer ``[0, 'OK']``), so scripts written for
SEMS keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from donkey.common import saferegex
from donkey.di.registry import DIArgumentError, DIFunction, DIInterface, DIRegistry
from donkey.monitoring.store import MonitoringStore

__all__ = ["INTERFACE_NAME", "MonitoringInterface", "register_monitoring"]

INTERFACE_NAME = "monitoring"

_OK = [0, "OK"]


def _arg(args: list, i: int, func: str, what: str) -> Any:
    """Argument ``i`` of ``monitoring.func``, or the SEMS "parameter number mismatch" error."""
    if i >= len(args):
        raise DIArgumentError(
            f"monitoring.{func}: missing argument {i + 1} ({what}); parameter number mismatch"
        )
    return args[i]


def _str(args: list, i: int, func: str, what: str) -> str:
    """Argument ``i``, which must be a string."""
    value = _arg(args, i, func, what)
    if not isinstance(value, str):
        raise DIArgumentError(
            f"monitoring.{func}: argument {i + 1} ({what}) must be a string, "
            f"got {type(value).__name__}"
        )
    return value


def _int(args: list, i: int, func: str, what: str) -> int:
    """Argument ``i``, which must be an integer (not a boolean)."""
    value = _arg(args, i, func, what)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DIArgumentError(
            f"monitoring.{func}: argument {i + 1} ({what}) must be an integer, "
            f"got {type(value).__name__}"
        )
    return value


def _number(args: list, i: int, func: str, what: str) -> float:
    """Argument ``i``, which must be a number (not a boolean)."""
    value = _arg(args, i, func, what)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DIArgumentError(
            f"monitoring.{func}: argument {i + 1} ({what}) must be a number, "
            f"got {type(value).__name__}"
        )
    return value


def _filters(args: list, func: str) -> list[tuple[str, Any]]:
    """``[attribute, value]`` pairs of ``listByFilter``/``eraseByFilter``."""
    out = []
    for i, f in enumerate(args):
        if not isinstance(f, (list, tuple)) or len(f) < 2 or not isinstance(f[0], str):
            raise DIArgumentError(
                f"monitoring.{func}: argument {i + 1} must be an [attribute, value] pair"
            )
        out.append((f[0], f[1]))
    return out


class MonitoringInterface(DIInterface):
    """DI adapter for one store.

    Each function takes the SEMS argument list and returns the SEMS result shape.
    """

    def __init__(self, store: MonitoringStore, name: str = INTERFACE_NAME) -> None:
        super().__init__(name)
        self.store = store
        table: dict[str, Callable[[list], Any]] = {
            "log": self._set,
            "set": self._set,
            "logAdd": self._add,
            "add": self._add,
            "markFinished": self._mark_finished,
            "setExpiration": self._set_expiration,
            "list": self._list,
            "listByFilter": self._list_by_filter,
            "listByRegex": self._list_by_regex,
            "listActive": self._list_active,
            "listFinished": self._list_finished,
            "get": self._get,
            "getSingle": self._get_single,
            "getAttribute": self._get_attribute,
            "getAttributeActive": self._get_attribute_active,
            "getAttributeFinished": self._get_attribute_finished,
            "erase": self._erase,
            "eraseByFilter": self._erase_by_filter,
            "clear": self._clear,
            "clearFinished": self._clear_finished,
            "inc": self._inc,
            "dec": self._dec,
            "addCount": self._add_count,
            "addSample": self._add_sample,
            "getCount": self._get_count,
            "getAllCounts": self._get_all_counts,
        }
        self.functions: dict[str, DIFunction] = table

    # writers: answer [0, "OK"] like SEMS

    def _set(self, args: list) -> list:
        ident = _str(args, 0, "set", "ID")
        if len(args) < 3 or len(args) % 2 == 0:
            raise DIArgumentError(
                "monitoring.set: expected ID followed by key, value pairs; "
                "parameter number mismatch"
            )
        attrs = {}
        for i in range(1, len(args), 2):
            attrs[_str(args, i, "set", "key")] = args[i + 1]
        self.store.update(ident, attrs)
        return list(_OK)

    def _add(self, args: list) -> list:
        self.store.add(
            _str(args, 0, "logAdd", "ID"),
            _str(args, 1, "logAdd", "key"),
            _arg(args, 2, "logAdd", "value"),
        )
        return list(_OK)

    def _mark_finished(self, args: list) -> list:
        self.store.mark_finished(_str(args, 0, "markFinished", "ID"))
        return list(_OK)

    def _set_expiration(self, args: list) -> list:
        self.store.set_expiration(
            _str(args, 0, "setExpiration", "ID"),
            _number(args, 1, "setExpiration", "time"),
        )
        return list(_OK)

    def _erase(self, args: list) -> list:
        self.store.erase(_str(args, 0, "erase", "ID"))
        return list(_OK)

    def _erase_by_filter(self, args: list) -> list:
        return self.store.erase_by_filter(*_filters(args, "eraseByFilter"))

    def _clear(self, args: list) -> list:
        self.store.clear()
        return list(_OK)

    def _clear_finished(self, args: list) -> list:
        self.store.clear_finished()
        return list(_OK)

    # readers

    def _list(self, args: list) -> list:
        return self.store.list()

    def _list_active(self, args: list) -> list:
        return self.store.list_active()

    def _list_finished(self, args: list) -> list:
        return self.store.list_finished()

    def _list_by_filter(self, args: list) -> list:
        return self.store.list_by_filter(*_filters(args, "listByFilter"))

    def _list_by_regex(self, args: list) -> list:
        key = _str(args, 0, "listByRegex", "attribute name")
        pattern = _str(args, 1, "listByRegex", "regular expression")
        try:
            rx = saferegex.compile(pattern, fallback=False)
        except saferegex.RegexError as e:
            raise DIArgumentError(
                f"monitoring.listByRegex: could not compile regex {pattern!r}: {e}"
            ) from None
        return self.store.list_by_regex(key, rx)

    def _get(self, args: list) -> list:
        info = self.store.get(_str(args, 0, "get", "ID"))
        return [] if info is None else [info]

    def _get_single(self, args: list) -> list:
        ident = _str(args, 0, "getSingle", "ID")
        key = _str(args, 1, "getSingle", "key")
        missing = object()
        value = self.store.get_single(ident, key, missing)
        return [] if value is missing else [value]

    def _get_attribute(self, args: list) -> list:
        return [
            list(p)
            for p in self.store.get_attribute(_str(args, 0, "getAttribute", "attribute name"))
        ]

    def _get_attribute_active(self, args: list) -> list:
        key = _str(args, 0, "getAttributeActive", "attribute name")
        return [[i, v] for i, v in self.store.get_attribute_active(key)]

    def _get_attribute_finished(self, args: list) -> list:
        key = _str(args, 0, "getAttributeFinished", "attribute name")
        return [[i, v] for i, v in self.store.get_attribute_finished(key)]

    # counters and samples

    def _inc(self, args: list) -> list:
        self.store.inc(_str(args, 0, "inc", "type"), _str(args, 1, "inc", "name"))
        return list(_OK)

    def _dec(self, args: list) -> list:
        self.store.dec(_str(args, 0, "dec", "type"), _str(args, 1, "dec", "name"))
        return list(_OK)

    def _add_count(self, args: list) -> list:
        self.store.add_count(
            _str(args, 0, "addCount", "type"),
            _str(args, 1, "addCount", "name"),
            _int(args, 2, "addCount", "value"),
        )
        return list(_OK)

    def _add_sample(self, args: list) -> list:
        """addSample(type, name [, count [, timestamp]]); a float 3rd arg is a timestamp."""
        kind = _str(args, 0, "addSample", "type")
        name = _str(args, 1, "addSample", "name")
        count, timestamp = 1, None
        if len(args) > 2:
            third = args[2]
            if isinstance(third, float):
                timestamp = third
            else:
                count = _int(args, 2, "addSample", "count")
                if len(args) > 3:
                    timestamp = _number(args, 3, "addSample", "timestamp")
        self.store.add_sample(kind, name, count, timestamp)
        return list(_OK)

    def _get_count(self, args: list) -> list:
        kind = _str(args, 0, "getCount", "type")
        name = _str(args, 1, "getCount", "name")
        seconds = _number(args, 2, "getCount", "seconds") if len(args) > 2 else 1
        return [self.store.get_count(kind, name, seconds)]

    def _get_all_counts(self, args: list) -> dict:
        kind = _str(args, 0, "getAllCounts", "type")
        seconds = _number(args, 1, "getAllCounts", "seconds") if len(args) > 1 else 1
        return self.store.get_all_counts(kind, seconds)


def register_monitoring(registry: DIRegistry, store: MonitoringStore) -> MonitoringInterface:
    """Publish ``store`` on ``registry`` as the ``monitoring`` interface."""
    iface = MonitoringInterface(store)
    registry.register(iface.name, iface)
    return iface
