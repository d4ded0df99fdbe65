"""The playlist: SEMS's AmPlaylist semantics as a frame source.

Items play in order; an item that ends hands over to the next within the
same frame, so there is no gap.  ``front=True`` interrupts the current item:
the new one plays first and the interrupted item then resumes where it was.
Separators fire ``on_separator(id)`` when reached; ``on_empty()`` fires once
when the list runs dry after having played something (the DSM ``noAudio``
event).  :meth:`flush` drops everything silently.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from donkey.media.frame import Source
from donkey.media.sources import FilePlayer, RingtoneSource, SilenceSource
from donkey.media.wav import MediaFileError, WavCache, load_wav_async

#: Files bigger than this are decoded in a thread instead of on the reactor.
ASYNC_LOAD_BYTES = 1024 * 1024

_S = TypeVar("_S", bound=Source)


class Separator:
    """Zero-length item that reports its id when the playlist reaches it."""

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def read(self) -> bytes | None:
        """No audio: the playlist reports the separator and moves on."""
        return None


class Playlist:
    """Ordered list of sources; itself a :class:`~donkey.media.frame.Source`.

    Files are decoded through *wav_cache*, which the creator passes (a
    :class:`~donkey.media.session.MediaSession` hands down its own).  Without
    one the playlist keeps a private cache: right for a test or a tool, but
    calls of a server should share theirs.
    """

    def __init__(self, wav_cache: WavCache | None = None) -> None:
        self._items: deque[Source] = deque()
        self._cur: Source | None = None
        self._played = False
        self.wav_cache = wav_cache if wav_cache is not None else WavCache()
        self.on_empty: Callable[[], None] | None = None
        self.on_separator: Callable[[int], None] | None = None

    # -- adding
    def add(self, source: _S, front: bool = False) -> _S:
        """Queue any source (at the end, or interrupting the current item)."""
        if front:
            if self._cur is not None:
                self._items.appendleft(self._cur)
                self._cur = None
            self._items.appendleft(source)
        else:
            self._items.append(source)
        return source

    def add_file(self, path: str, loop: bool = False, front: bool = False) -> FilePlayer:
        """Queue a WAV file; raises :class:`MediaFileError` if it can't be used."""
        frames = self.wav_cache.get(path)  # stats the file: raises if missing
        if frames is None:
            if not os.access(path, os.R_OK):
                raise MediaFileError(path, "not readable")
            if os.path.getsize(path) > ASYNC_LOAD_BYTES:
                player = FilePlayer(None, loop, path)
                d = load_wav_async(path, self.wav_cache)
                d.addCallbacks(player.loaded, lambda _f: setattr(player, "failed", True))
                self.add(player, front)
                return player
            frames = self.wav_cache.frames(path)
        player = FilePlayer(frames, loop, path)
        self.add(player, front)
        return player

    def add_silence(self, ms: int, front: bool = False) -> SilenceSource:
        """Queue *ms* milliseconds of silence."""
        return self.add(SilenceSource(ms), front)

    def add_ringtone(
        self,
        length_ms: int,
        on_ms: int,
        off_ms: int,
        f: float,
        f2: float = 0.0,
        front: bool = False,
    ) -> RingtoneSource:
        """Queue a ringtone: *f* (+ *f2*) Hz, *on_ms* on / *off_ms* off, for *length_ms*."""
        return self.add(RingtoneSource(length_ms, on_ms, off_ms, f, f2), front)

    def add_separator(self, id: int, front: bool = False) -> Separator:
        """Queue a separator: ``on_separator(id)`` fires when playback reaches it."""
        return self.add(Separator(int(id)), front)

    def flush(self) -> None:
        """Stop the current item and drop all queued ones; no event fires."""
        self._items.clear()
        self._cur = None
        self._played = False

    # -- state
    def __len__(self) -> int:
        return len(self._items) + (self._cur is not None)

    @property
    def is_empty(self) -> bool:
        return self._cur is None and not self._items

    @property
    def current(self) -> Source | None:
        return self._cur

    # -- Source / Sink
    def read(self) -> bytes | None:
        cur = self._cur
        if cur is not None:
            frame = cur.read()
            if frame is not None:
                return frame
            self._cur = None
        return self._advance()

    def _advance(self) -> bytes | None:
        items = self._items
        while True:
            if not items:
                if self._played:
                    self._played = False
                    on_empty = self.on_empty
                    if on_empty is not None:
                        on_empty()
                    if items:  # the callback queued something: play it now
                        continue
                return None
            item = items.popleft()
            if type(item) is Separator:
                on_separator = self.on_separator
                if on_separator is not None:
                    on_separator(item.id)
                continue
            frame = item.read()
            if frame is not None:
                self._cur = item
                self._played = True
                return frame

    def write(self, frame: bytes) -> None:
        """As an output the playlist just discards audio (like SEMS)."""
        return None
