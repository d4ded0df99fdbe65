"""Prompt collections: named, pre-loaded WAVs (SEMS ``load_prompts``).

A prompts file has ``name=path.wav`` lines (blank lines and ``#`` comments
ignored).  All prompts are decoded into memory when loaded -- at startup,
before calls arrive -- so playing one never touches the disk.  Several
collections can be kept as named prompt sets.

An app bundle's prompts arrive as ``(name, path)`` lists read by the DSM
loader; :meth:`PromptSets.build` decodes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from donkey.media.frame import Source
from donkey.media.sources import FilePlayer
from donkey.media.wav import MediaFileError, WavCache


class PromptNotFound(KeyError):
    """No prompt (or prompt set) of that name; ``name`` is for ``#name``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def parse_prompts_file(path: str) -> list[tuple[str, str]]:
    """``(name, wav path)`` pairs from a prompts file; relative paths are
    taken relative to the file's directory."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        raise MediaFileError(path, e.strerror or "cannot open") from None
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, wav = line.partition("=")
        if not sep or not name.strip() or not wav.strip():
            continue
        wav = wav.strip()
        out.append((name.strip(), wav if os.path.isabs(wav) else os.path.join(base, wav)))
    return out


class PromptCollection:
    """Prompts by name, decoded and held in memory."""

    def __init__(self, wav_cache: WavCache | None = None) -> None:
        self._cache = wav_cache if wav_cache is not None else WavCache()
        self._frames: dict[str, tuple[bytes, ...]] = {}
        self._paths: dict[str, str] = {}

    def add(self, name: str, path: str) -> None:
        """Load one prompt now (raises ``MediaFileError``)."""
        self._frames[name] = self._cache.frames(path)
        self._paths[name] = path

    def add_all(self, prompts: Iterable[tuple[str, str]]) -> list[str]:
        """Load every ``(name, path)``; returns the names whose file would not load."""
        failed = []
        for name, path in prompts:
            try:
                self.add(name, path)
            except MediaFileError:
                failed.append(name)
        return failed

    def load_file(self, prompts_file: str, strict: bool = False) -> list[str]:
        """Load every ``name=path`` of *prompts_file*; returns names that failed
        (or raises on the first failure when *strict*)."""
        failed = []
        for name, path in parse_prompts_file(prompts_file):
            try:
                self.add(name, path)
            except MediaFileError:
                if strict:
                    raise
                failed.append(name)
        return failed

    def __contains__(self, name: object) -> bool:
        return name in self._frames

    def names(self) -> list[str]:
        return list(self._frames)

    def path(self, name: str) -> str:
        try:
            return self._paths[name]
        except KeyError:
            raise PromptNotFound(name) from None

    def source(self, name: str, loop: bool = False) -> Source:
        """A fresh player for *name*, to put on a playlist."""
        try:
            frames = self._frames[name]
        except KeyError:
            raise PromptNotFound(name) from None
        return FilePlayer(frames, loop, self._paths[name])


class PromptSets:
    """Named prompt collections with a default one (``setPromptSet``)."""

    def __init__(self, default: PromptCollection | None = None) -> None:
        self.default = default or PromptCollection()
        self._sets: dict[str, PromptCollection] = {}

    @classmethod
    def build(
        cls,
        default: Iterable[tuple[str, str]],
        sets: Iterable[tuple[str, Iterable[tuple[str, str]]]] = (),
        wav_cache: WavCache | None = None,
    ) -> tuple[PromptSets, list[str]]:
        """Decode a bundle's prompts now; also returns what failed (``name``, ``set/name``)."""
        prompt_sets = cls(PromptCollection(wav_cache))
        failed = prompt_sets.default.add_all(default)
        for set_name, prompts in sets:
            collection = PromptCollection(wav_cache)
            failed += [f"{set_name}/{name}" for name in collection.add_all(prompts)]
            prompt_sets.add_set(set_name, collection)
        return prompt_sets, failed

    def add_set(self, name: str, collection: PromptCollection) -> None:
        self._sets[name] = collection

    def load_set(
        self, name: str, prompts_file: str, wav_cache: WavCache | None = None
    ) -> list[str]:
        pc = PromptCollection(wav_cache)
        failed = pc.load_file(prompts_file)
        self._sets[name] = pc
        return failed

    def get_set(self, name: str) -> PromptCollection:
        try:
            return self._sets[name]
        except KeyError:
            raise PromptNotFound(name) from None

    def names(self) -> list[str]:
        return list(self._sets)

    def lookup(
        self, name: str, prompt_set: str | None = None, default_fallback: bool = False
    ) -> PromptCollection:
        """Collection holding *name*: the chosen set, else (optionally) the default."""
        pc = self.get_set(prompt_set) if prompt_set else self.default
        if name in pc:
            return pc
        if default_fallback and name in self.default:
            return self.default
        raise PromptNotFound(name)
