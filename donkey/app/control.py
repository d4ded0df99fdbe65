"""The ``dsm`` DI interface: post events into calls, (re)load scripts and bundles.

Functions and answers as SEMS's dsm module gives them over DI (and so over
XML-RPC with ``direct_export=dsm``): ``postDSMEvent``, ``reloadDSMs``,
``loadDSM``, ``loadDSMWithPaths``, ``preloadModules``, ``preloadModule``,
``hasDSM``, ``listDSMs``, ``registerApplication``, ``loadConfig``,
``createSystemDSM``.  Most answer ``[code, reason]``.  A load that fails
changes nothing: running and new calls keep the scripts they had, and the
reason names ``file:line:col`` of the problem.
"""

from __future__ import annotations

import os
from typing import Any

from donkey.config import ConfigError, read_config
from donkey.di.registry import DIArgumentError, DIInterface
from donkey.dsm import events as ev
from donkey.dsm.errors import CompileError
from donkey.dsm.events import Event
from donkey.dsm.loader import split_list
from donkey.dsm.runtime import Runtime

MAIN = "main"


def _strings(args: list[Any], count: int, name: str, optional: int = 0) -> list[str]:
    if not count - optional <= len(args) <= count:
        raise DIArgumentError(
            f"{name} takes {count - optional}"
            f"{'' if not optional else '-' + str(count)} arguments, got {len(args)}"
        )
    for a in args:
        if not isinstance(a, str):
            raise DIArgumentError(f"{name}: arguments must be strings, got {a!r}")
    return list(args)


def make_dsm_interface(runtime: Runtime) -> DIInterface:
    """The interface, bound to one runtime (registered as ``dsm``)."""
    iface = DIInterface("dsm")

    def main_conf() -> dict[str, str]:
        return dict(runtime.main_config)

    @iface.function("postDSMEvent")
    def post_dsm_event(args: list[Any]) -> list[Any]:
        if not args or not isinstance(args[0], str):
            raise DIArgumentError("postDSMEvent(call_id, [[name, value], ...])")
        params: dict[str, str] = {}
        pairs = args[1] if len(args) > 1 else []
        if not isinstance(pairs, (list, tuple)):
            raise DIArgumentError("postDSMEvent: the parameters must be a list of [name, value]")
        for pair in pairs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise DIArgumentError(
                    f"postDSMEvent: bad parameter {pair!r}: expected [name, value]"
                )
            params[str(pair[0])] = str(pair[1])
        if runtime.sessions.post_event(args[0], Event(ev.EVENT, params)):
            return [200, "OK"]
        return [404, "Session not found"]

    def reload_main() -> list[Any]:
        try:
            runtime.load_bundle(MAIN, main_conf())
        except CompileError as e:
            return [500, f"loading DSMs failed: {e}"]
        return [200, "DSMs reloaded"]

    @iface.function("reloadDSMs")
    def reload_dsms(args: list[Any]) -> list[Any]:
        return reload_main()

    def load_one(name: str, diag_path: str, mod_path: str) -> list[Any]:
        bundle = runtime.bundles.get(MAIN)
        if bundle is not None and name in bundle.diagrams:
            return [400, f"DSM named '{name}' already loaded (use reloadDSMs to reload all)"]
        path = os.path.join(runtime.main_path(diag_path), name + ".dsm")
        try:
            runtime.compile_into_main(name, path, mod_path)
        except CompileError as e:
            return [500, f"error loading {name} from {path}: {e}"]
        return [200, f"loaded {name} from {path}"]

    @iface.function("loadDSM")
    def load_dsm(args: list[Any]) -> list[Any]:
        (name,) = _strings(args, 1, "loadDSM")
        conf = main_conf()
        return load_one(name, conf.get("diag_path", ""), conf.get("mod_path", ""))

    @iface.function("loadDSMWithPaths")
    def load_dsm_with_paths(args: list[Any]) -> list[Any]:
        name, diag_path, mod_path = _strings(args, 3, "loadDSMWithPaths")
        return load_one(name, diag_path, mod_path)

    iface.add("loadDSMWithPath", load_dsm_with_paths)

    @iface.function("preloadModules")
    def preload_modules(args: list[Any]) -> list[Any]:
        conf = main_conf()
        try:
            for name in split_list(conf.get("preload_mods")):
                module = runtime.modules.load(name, runtime.main_path(conf.get("mod_path", "")))
                module.preload(conf, runtime)
        except CompileError as e:
            return [500, str(e)]
        return [200, "modules preloaded"]

    @iface.function("preloadModule")
    def preload_module(args: list[Any]) -> list[Any]:
        name, mod_path = _strings(args, 2, "preloadModule")
        try:
            module = runtime.modules.load(name, runtime.main_path(mod_path))
        except CompileError:
            return [500, f"importing module '{name}' for preload"]
        try:
            module.preload(main_conf(), runtime)
        except Exception as e:
            return [500, f"Error while preloading '{name}': {e}"]
        return [200, "module preloaded."]

    @iface.function("hasDSM")
    def has_dsm(args: list[Any]) -> list[Any]:
        (name, *rest) = _strings(args, 2, "hasDSM", optional=1)
        bundle = runtime.bundles.get(rest[0] if rest and rest[0] else MAIN)
        return ["1" if bundle is not None and name in bundle.diagrams else "0"]

    @iface.function("listDSMs")
    def list_dsms(args: list[Any]) -> list[Any]:
        _strings(args, 1, "listDSMs", optional=1)
        bundle = runtime.bundles.get(args[0] if args and args[0] else MAIN)
        return sorted(bundle.diagrams) if bundle is not None else []

    @iface.function("registerApplication")
    def register_application(args: list[Any]) -> list[Any]:
        (name, *rest) = _strings(args, 2, "registerApplication", optional=1)
        conf_name = rest[0] if rest and rest[0] else MAIN
        bundle = runtime.bundles.get(conf_name)
        if bundle is None or name not in bundle.diagrams:
            return [400, "unknown application (DSM)"]
        runtime.register_app(name, conf_name)
        return [200, "registered DSM application"]

    @iface.function("loadConfig")
    def load_config(args: list[Any]) -> list[Any]:
        path, name = _strings(args, 2, "loadConfig")
        if name.endswith(".conf"):
            name = name[:-5]
        try:
            conf = read_config(path, runtime.main_config.get("state_dir"))
            bundle = runtime.load_bundle(
                name, conf, base_dir=os.path.dirname(os.path.abspath(path))
            )
        except (ConfigError, CompileError) as e:
            return [500, f"reload config failed: {e}"]
        runtime.start_system_dsms(bundle, ev.RELOAD)
        return [200, "OK"]

    @iface.function("createSystemDSM")
    def create_system_dsm(args: list[Any]) -> list[Any]:
        conf_name, diagram = _strings(args, 2, "createSystemDSM")
        ok, status = runtime.create_system_dsm(conf_name, diagram)
        return [200 if ok else 500, status]

    return iface
