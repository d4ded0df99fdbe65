"""The ``dsm`` DI interface: post events into calls, (re)load scripts and bundles.

Functions and answers as SEMS's dsm module gives them over DI (and so over
XML-RPC with ``direct_export=dsm``): ``postDSMEvent``, ``reloadDSMs``,
``loadDSM``, ``loadDSMWithPaths``, ``preloadModules``, ``preloadModule``,
``hasDSM``, ``listDSMs``, ``registerApplication``, ``loadConfig``,
``createSystemDSM``.  Most answer ``[code, reason]``.  A load that fails
changes nothing: running and new calls keep the scripts they had, and the
reason names ``file:line:col`` of the problem.

The control plane is an administrator's door, so what a caller names is
checked before anything is read (:mod:`donkey.common.files`):

- bundle files and scripts are read only if they are regular files of at
  most 1 MiB inside the *allowed directories*: the main configuration's
  ``conf_dir`` and ``diag_path``, and every directory listed in dsm.conf's
  ``allowed_config_dirs`` (donkey's addition; ``,`` or ``;`` separated,
  relative to dsm.conf);
- Python DSM modules load only from the main configuration's ``mod_path``
  (besides entry points and ``donkey.mods``, always found): a bundle's
  ``mod_path``, or the one given to ``loadDSMWithPaths``/``preloadModule``,
  may only name directories inside it;
- ``loadConfig`` of a bundle without diagrams is refused, so it can never
  empty a running bundle (``loadConfig('/dev/null', 'main')``);
- refusals name the path and the reason, never the file's content.

Reading and compiling happen in a worker thread when the server hands in
``run_blocking`` (the daemon does), then the result is installed on the
reactor; without it (tests, the harness) everything runs at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from donkey.common.files import FileRefused, confine, is_inside, read_regular_file
from donkey.config import ConfigError, default_state_dir, parse_config
from donkey.di.registry import DIArgumentError, DIInterface
from donkey.dsm import events as ev
from donkey.dsm.errors import CompileError
from donkey.dsm.events import Event
from donkey.dsm.loader import AppBundle, split_list
from donkey.dsm.runtime import Runtime

MAIN = "main"

#: dsm.conf key: more directories (besides conf_dir and diag_path) whose
#: files the control plane may load.
ALLOWED_DIRS_KEY = "allowed_config_dirs"

#: Runs a blocking function in a worker thread; fires with its result.
RunBlocking = Callable[[Callable[[], Any]], Deferred]


class _Refused(Exception):
    """A load refused before anything changed: ``answer`` is the ``[code, reason]`` to send."""

    def __init__(self, answer: list[Any]) -> None:
        super().__init__(answer[1])
        self.answer = answer


def allowed_dirs(runtime: Runtime) -> list[str]:
    """The directories the control plane may read bundle files and scripts from."""
    conf = runtime.main_config
    dirs = [runtime.main_path(conf.get("diag_path", ""))]
    if conf.get("conf_dir", "").strip():
        dirs.append(runtime.main_path(conf["conf_dir"].strip()))
    dirs.extend(runtime.main_path(d) for d in split_list(conf.get(ALLOWED_DIRS_KEY)))
    return dirs


def main_mod_dirs(runtime: Runtime) -> list[str]:
    """The main configuration's ``mod_path`` directories: the only places Python modules load from."""
    mod_path = runtime.main_config.get("mod_path", "")
    return [runtime.main_path(p.strip()) for p in mod_path.split(";") if p.strip()]


def _check_mod_path(runtime: Runtime, mod_path: str, base_dir: str) -> None:
    """Refuse a ``mod_path`` naming a directory outside the main configuration's."""
    allowed = main_mod_dirs(runtime)
    for entry in (p.strip() for p in mod_path.split(";")):
        if not entry:
            continue
        path = entry if os.path.isabs(entry) else os.path.join(base_dir, entry)
        if not is_inside(path, allowed):
            raise _Refused(
                [
                    403,
                    f"mod_path '{entry}' is not inside the main configuration's mod_path: "
                    "Python modules load only from there",
                ]
            )


def read_bundle_file(path: str, allowed: list[str], state_dir: str | None) -> dict[str, str]:
    """A bundle file's keys, read only if allowed (raises :class:`FileRefused`, :class:`ConfigError`).

    As :func:`donkey.config.read_config` reads it (``${here}``,
    ``${state_dir}``), but through :func:`read_regular_file` inside
    ``allowed``; a parse error names the line, never its text.
    """
    real = confine(path, allowed)
    text = read_regular_file(real)
    try:
        values = parse_config(text, path)
    except ConfigError as e:
        # parse_config quotes the offending line: keep only where it is
        raise ConfigError(str(e).split(", got ", 1)[0]) from None
    here = os.path.dirname(os.path.abspath(path))
    state = state_dir or default_state_dir()
    return {k: v.replace("${here}", here).replace("${state_dir}", state) for k, v in values.items()}


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


def make_dsm_interface(runtime: Runtime, run_blocking: RunBlocking | None = None) -> DIInterface:
    """The interface, bound to one runtime (registered as ``dsm``).

    :param run_blocking: runs file reading and compiling off the reactor
        (the daemon passes a thread pool's); ``None`` runs them at once.
    """
    iface = DIInterface("dsm")

    def staged(
        prepare: Callable[[], Any], finish: Callable[[Any], list[Any]]
    ) -> list[Any] | Deferred:
        """``prepare()`` (blocking: in a thread if possible), then ``finish`` on the reactor.

        A :class:`_Refused` from either becomes its answer.
        """
        if run_blocking is None:
            try:
                return finish(prepare())
            except _Refused as e:
                return e.answer

        def refused(failure: Failure) -> list[Any]:
            failure.trap(_Refused)
            return failure.value.answer  # type: ignore[union-attr]

        def finish_refusable(value: Any) -> list[Any]:
            try:
                return finish(value)
            except _Refused as e:
                return e.answer

        d = run_blocking(prepare)
        d.addCallback(finish_refusable)
        d.addErrback(refused)
        return d

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

    def reload_main() -> list[Any] | Deferred:
        def prepare() -> AppBundle:
            try:
                return runtime.compile_bundle(MAIN, main_conf())
            except CompileError as e:
                raise _Refused([500, f"loading DSMs failed: {e}"]) from None

        def finish(bundle: AppBundle) -> list[Any]:
            try:
                runtime.install_bundle(bundle)
            except CompileError as e:
                return [500, f"loading DSMs failed: {e}"]
            return [200, "DSMs reloaded"]

        return staged(prepare, finish)

    @iface.function("reloadDSMs")
    def reload_dsms(args: list[Any]) -> list[Any] | Deferred:
        return reload_main()

    def load_one(name: str, diag_path: str, mod_path: str) -> list[Any] | Deferred:
        bundle = runtime.bundles.get(MAIN)
        if bundle is not None and name in bundle.diagrams:
            return [400, f"DSM named '{name}' already loaded (use reloadDSMs to reload all)"]
        if not name or "/" in name or name.startswith("."):
            return [400, f"'{name}' is not a DSM name"]
        path = os.path.join(runtime.main_path(diag_path), name + ".dsm")

        def prepare() -> Any:
            try:
                _check_mod_path(runtime, mod_path, runtime.base_dir)
                confine(path, allowed_dirs(runtime))
                return runtime.compile_diagram(name, path, mod_path)
            except FileRefused as e:
                raise _Refused([403, f"error loading {name}: {e}"]) from None
            except CompileError as e:
                raise _Refused([500, f"error loading {name} from {path}: {e}"]) from None

        def finish(diagram: Any) -> list[Any]:
            try:
                runtime.install_into_main(name, diagram)
            except CompileError as e:
                return [500, f"error loading {name} from {path}: {e}"]
            return [200, f"loaded {name} from {path}"]

        return staged(prepare, finish)

    @iface.function("loadDSM")
    def load_dsm(args: list[Any]) -> list[Any] | Deferred:
        (name,) = _strings(args, 1, "loadDSM")
        conf = main_conf()
        return load_one(name, conf.get("diag_path", ""), conf.get("mod_path", ""))

    @iface.function("loadDSMWithPaths")
    def load_dsm_with_paths(args: list[Any]) -> list[Any] | Deferred:
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
    def preload_module(args: list[Any]) -> list[Any] | Deferred:
        name, mod_path = _strings(args, 2, "preloadModule")
        resolved = ";".join(runtime.main_path(p) for p in mod_path.split(";") if p)

        def prepare() -> Any:
            _check_mod_path(runtime, mod_path, runtime.base_dir)
            try:
                return runtime.modules.load(name, resolved)
            except CompileError:
                raise _Refused([500, f"importing module '{name}' for preload"]) from None

        def finish(module: Any) -> list[Any]:
            try:
                module.preload(main_conf(), runtime)
            except Exception as e:
                return [500, f"Error while preloading '{name}': {e}"]
            return [200, "module preloaded."]

        return staged(prepare, finish)

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
    def load_config(args: list[Any]) -> list[Any] | Deferred:
        path, name = _strings(args, 2, "loadConfig")
        if name.endswith(".conf"):
            name = name[:-5]
        base_dir = os.path.dirname(os.path.abspath(path))
        allowed = allowed_dirs(runtime)

        def prepare() -> AppBundle:
            try:
                conf = read_bundle_file(path, allowed, runtime.main_config.get("state_dir"))
            except FileRefused as e:
                raise _Refused([403, f"reload config failed: {e}"]) from None
            except ConfigError as e:
                raise _Refused([500, f"reload config failed: {e}"]) from None
            diags = split_list(conf.get("load_diags"))
            if not diags:
                raise _Refused(
                    [400, f"reload config failed: '{path}' loads no diagrams (load_diags)"]
                )
            _check_mod_path(runtime, conf.get("mod_path", ""), base_dir)
            diag_dir = conf.get("diag_path", "").strip()
            diag_dir = diag_dir if os.path.isabs(diag_dir) else os.path.join(base_dir, diag_dir)
            for diag in diags:
                try:
                    confine(os.path.join(diag_dir, diag + ".dsm"), allowed)
                except FileRefused as e:
                    raise _Refused([403, f"reload config failed: {e}"]) from None
            try:
                return runtime.compile_bundle(name, conf, base_dir=base_dir)
            except CompileError as e:
                raise _Refused([500, f"reload config failed: {e}"]) from None

        def finish(bundle: AppBundle) -> list[Any]:
            try:
                runtime.install_bundle(bundle)
            except CompileError as e:
                return [500, f"reload config failed: {e}"]
            runtime.start_system_dsms(bundle, ev.RELOAD)
            return [200, "OK"]

        return staged(prepare, finish)

    @iface.function("createSystemDSM")
    def create_system_dsm(args: list[Any]) -> list[Any]:
        conf_name, diagram = _strings(args, 2, "createSystemDSM")
        ok, status = runtime.create_system_dsm(conf_name, diagram)
        return [200 if ok else 500, status]

    return iface
