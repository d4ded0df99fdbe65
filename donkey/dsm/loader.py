"""Finding DSM modules (``import(mod_x)``) and loading app bundles.

A module name ``mod_x`` is looked up, in order:

1. the entry point ``mod_x`` in the group ``donkey.dsm_modules`` (third-party
   modules installed as Python packages);
2. donkey's own ``donkey.mods.x``;
3. a file ``mod_x.py`` in the bundle's ``mod_path``.

The Python module must expose ``module`` (a :class:`~donkey.dsm.module.Module`)
or ``make_module()`` returning one.

An *app bundle* is what SEMS's dsm.conf or a ``conf_dir/*.conf`` file
describes: ``diag_path``, ``load_diags``, ``register_apps``, ``mod_path``,
``preload_mods``, behaviour switches, the prompts (:class:`PromptConfig`),
and every other key as ``$config.key``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from twisted.logger import Logger

from donkey.common.files import FileRefused, read_regular_file
from donkey.common.truthy import truthy
from donkey.dsm.compiler import Compiler
from donkey.dsm.core import core
from donkey.dsm.diagram import Diagram
from donkey.dsm.errors import CompileError, CompileErrors, Location
from donkey.dsm.module import Module

log = Logger(namespace="donkey.dsm.loader")

ENTRY_POINT_GROUP = "donkey.dsm_modules"

# Keys of a bundle file that configure DSM itself rather than the script.
BUNDLE_KEYS = frozenset(
    {
        "diag_path",
        "load_diags",
        "register_apps",
        "mod_path",
        "preload_mods",
        "run_invite_event",
        "set_param_variables",
        "run_system_dsms",
        "conf_dir",
        "inbound_start_diag",
        "outbound_start_diag",
        "monitoring_full_stategraph",
        "monitoring_full_transitions",
        "enable_session_timer",
        "session_expires",
        "minimum_timer",
        "session_refresh_method",
        "accept_501_reply",
        "load_prompts",
        "required_prompts",
        "prompts_sets_path",
        "load_prompts_sets",
    }
)


class ModuleLoader:
    """Resolves and caches modules; one per runtime."""

    def __init__(self, default_paths: Iterable[str] = ()):
        self.default_paths = list(default_paths)
        self._cache: dict[tuple[str, str], Module] = {}
        # bundles loaded over DI compile in a worker thread
        self._lock = threading.RLock()

    def load(self, name: str, mod_path: str = "", location: Location | None = None) -> Module:
        with self._lock:
            return self._load(name, mod_path, location)

    def _load(self, name: str, mod_path: str, location: Location | None) -> Module:
        key = (name, mod_path)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        module = self._find(name, mod_path)
        if module is None:
            raise CompileError(
                f"module '{name}' not found (looked in entry points "
                f"'{ENTRY_POINT_GROUP}', donkey.mods and mod_path "
                f"'{mod_path}')",
                location,
            )
        self._cache[key] = module
        return module

    def _find(self, name: str, mod_path: str) -> Module | None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                return _as_module(ep.load(), name)
        short = name[4:] if name.startswith("mod_") else name
        try:
            return _as_module(importlib.import_module(f"donkey.mods.{short}"), name)
        except ModuleNotFoundError as e:
            if e.name not in (f"donkey.mods.{short}",):
                raise
        for directory in [p for p in mod_path.split(";") if p] + self.default_paths:
            candidate = os.path.join(directory, f"{name}.py")
            if os.path.isfile(candidate):
                spec = importlib.util.spec_from_file_location(f"donkey_user_mods.{name}", candidate)
                if spec is None or spec.loader is None:
                    raise CompileError(f"module '{name}': cannot import {candidate}")
                py_module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(py_module)
                return _as_module(py_module, name)
        return None


def _as_module(obj: object, name: str) -> Module:
    if isinstance(obj, Module):
        return obj
    factory = getattr(obj, "make_module", None)
    if factory is not None:
        return factory()
    module = getattr(obj, "module", None)
    if isinstance(module, Module):
        return module
    raise CompileError(f"'{name}' is not a DSM module (no 'module' or 'make_module')")


Prompts = tuple[tuple[str, str], ...]  # (prompt name, WAV path) in file order


@dataclass(frozen=True)
class PromptConfig:
    """Which prompts a bundle has: SEMS's ``load_prompts`` and prompt sets.

    ``load_prompts`` lists prompts files (``name=path.wav`` lines) whose
    prompts make the default collection; ``required_prompts`` must be among
    them or the bundle does not load.  ``load_prompts_sets`` names prompt
    sets, each read from the file of that name in ``prompts_sets_path``
    (``name.conf`` is tried too); ``setPromptSet(name)`` selects one for a
    call.  Relative paths are taken from the bundle's directory, WAV paths
    in a prompts file from that file's directory.

    The files are read when the bundle loads, so a call never waits on the
    disk for them; the DSM layer keeps names and paths, and the media side
    (:mod:`donkey.media.prompts`, built by :mod:`donkey.app.controller` when
    the bundle loads) decodes the WAVs.
    """

    default: Prompts = ()
    sets: tuple[tuple[str, Prompts], ...] = ()
    required: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.default or self.sets)

    def set_names(self) -> list[str]:
        return [name for name, _ in self.sets]

    def prompts_of(self, prompt_set: str | None) -> Prompts:
        """The prompts of ``prompt_set`` (None: the default collection); KeyError if unknown."""
        if prompt_set is None:
            return self.default
        for name, prompts in self.sets:
            if name == prompt_set:
                return prompts
        raise KeyError(prompt_set)


def read_prompts_file(path: str) -> Prompts:
    """``(name, WAV path)`` of every ``name=path`` line; ``#`` lines and blanks skipped.

    A relative WAV path is relative to the prompts file.  Raises
    :class:`CompileError` when the file cannot be read.
    """
    try:
        lines = read_regular_file(path).splitlines()
    except FileRefused as e:
        raise CompileError(f"prompts file: {e}") from None
    base = os.path.dirname(os.path.abspath(path))
    out: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, wav = line.partition("=")
        name, wav = name.strip(), wav.strip()
        if sep and name and wav:
            out.append((name, wav if os.path.isabs(wav) else os.path.join(base, wav)))
    return tuple(out)


def prompt_config(conf: Mapping[str, str], base_dir: str) -> PromptConfig:
    """Read the prompts files a bundle's keys name (raises :class:`CompileError`)."""
    default: dict[str, str] = {}
    for path in split_list(conf.get("load_prompts")):
        default.update(read_prompts_file(_path(path, base_dir)))
    sets_dir = _path(conf.get("prompts_sets_path", ""), base_dir)
    sets = []
    for name in split_list(conf.get("load_prompts_sets")):
        path = os.path.join(sets_dir, name)
        if not os.path.isfile(path) and os.path.isfile(path + ".conf"):
            path += ".conf"
        sets.append((name, read_prompts_file(path)))
    required = tuple(split_list(conf.get("required_prompts")))
    missing = [name for name in required if name not in default]
    if missing:
        raise CompileError(f"required prompts not loaded: {', '.join(missing)}")
    return PromptConfig(tuple(default.items()), tuple(sets), required)


@dataclass
class AppBundle:
    """Compiled scripts plus the configuration they run with."""

    name: str
    config: dict[str, str]
    diagrams: dict[str, Diagram]
    register_apps: tuple[str, ...] = ()
    system_dsms: tuple[str, ...] = ()
    preloaded: tuple[Module, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)
    prompts: PromptConfig = field(default_factory=PromptConfig)

    @property
    def modules(self) -> tuple[Module, ...]:
        seen: list[Module] = list(self.preloaded)
        for diagram in self.diagrams.values():
            for module in diagram.modules:
                if module not in seen:
                    seen.append(module)
        return tuple(seen)

    @property
    def run_invite_event(self) -> bool:
        return truthy(self.settings.get("run_invite_event"))

    @property
    def set_param_variables(self) -> bool:
        return truthy(self.settings.get("set_param_variables"))

    def flag(self, key: str) -> bool:
        return truthy(self.settings.get(key))


def split_list(value: str | None) -> list[str]:
    """SEMS lists: ``a,b;c`` (either separator), blanks dropped."""
    if not value:
        return []
    return [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]


def load_bundle(
    name: str, conf: Mapping[str, str], loader: ModuleLoader, base_dir: str = "."
) -> AppBundle:
    """Compile every diagram a bundle lists; raise CompileErrors with all problems."""
    diag_path = _path(conf.get("diag_path", ""), base_dir)
    mod_path = ";".join(_path(p, base_dir) for p in conf.get("mod_path", "").split(";") if p)
    preloaded = tuple(loader.load(m, mod_path) for m in split_list(conf.get("preload_mods")))
    compiler = Compiler(core, lambda mod, at: loader.load(mod, mod_path, at), preloaded=())
    diagrams: dict[str, Diagram] = {}
    errors: list[CompileError] = []
    for diag in split_list(conf.get("load_diags")):
        path = os.path.join(diag_path, diag + ".dsm")
        try:
            diagrams[diag] = compiler.compile_file(path, diag)
        except CompileErrors as e:
            errors.extend(e.errors)
        except CompileError as e:
            errors.append(e)
        for warning in compiler.warnings:
            log.warn("{problem}", problem=str(warning))
    if errors:
        raise errors[0] if len(errors) == 1 else CompileErrors(errors)
    config = dict(conf)
    settings = {k: v for k, v in conf.items() if k in BUNDLE_KEYS}
    return AppBundle(
        name=name,
        config=config,
        diagrams=diagrams,
        register_apps=tuple(split_list(conf.get("register_apps"))),
        system_dsms=tuple(split_list(conf.get("run_system_dsms"))),
        preloaded=preloaded,
        settings=settings,
        prompts=prompt_config(conf, base_dir),
    )


def _path(path: str, base_dir: str) -> str:
    path = path.strip()
    if not path:
        return base_dir
    return path if os.path.isabs(path) else os.path.join(base_dir, path)
