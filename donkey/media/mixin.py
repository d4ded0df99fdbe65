"""Mix-in: play a file over whatever a call is hearing (conference, playlist).

``MixIn(base, level, seconds)`` is a source that returns ``base`` plus the
mix-in audio scaled by ``level``.  With ``seconds == 0`` a file passed to
:meth:`MixIn.play_file` is mixed in once, right away; with ``seconds > 0``
the last file given is mixed in again every ``seconds`` seconds (a periodic
beep/announcement over a conference).  :attr:`MixIn.list` is a playlist for
queued mix-in files (``conference.playMixInList``).
"""

from __future__ import annotations

from donkey.media._audioop import audioop
from donkey.media.frame import FRAME_MS, SILENCE, Source
from donkey.media.playlist import Playlist
from donkey.media.wav import WavCache

_add = audioop.add
_mul = audioop.mul


class MixIn:
    """Source: ``base`` + ``level`` x mix-in audio."""

    def __init__(
        self, base: Source | None, level: float, seconds: int = 0, wav_cache: WavCache | None = None
    ) -> None:
        self.base = base
        self.level = float(level)
        self.interval_ticks = int(seconds) * 1000 // FRAME_MS
        self.list = Playlist(wav_cache)
        self._repeat_path: str | None = None
        self._ticks = 0

    def play_file(self, path: str) -> None:
        """Mix *path* in now (replacing what is being mixed in)."""
        self.list.flush()
        self.list.add_file(path)
        self._repeat_path = path if self.interval_ticks else None
        self._ticks = 0

    def add_file(self, path: str, loop: bool = False) -> None:
        """Queue *path* on the mix-in list."""
        self.list.add_file(path, loop)

    def flush(self) -> None:
        self.list.flush()
        self._repeat_path = None

    def read(self) -> bytes | None:
        base = self.base
        a = base.read() if base is not None else None
        if self._repeat_path is not None:
            if self._ticks >= self.interval_ticks:
                self._ticks = 0
                if self.list.is_empty:
                    try:
                        self.list.add_file(self._repeat_path)
                    except OSError:
                        self._repeat_path = None
            self._ticks += 1
        b = self.list.read()
        if b is None:
            return a
        if a is None:
            a = SILENCE
        return _add(a, _mul(b, 2, self.level), 2)
