"""Simple frame sources: file player, silence, ringtone.

All of them hand out pre-built ``bytes`` frames (shared silence, cached file
frames, a precomputed ringtone cadence), so reading a frame allocates nothing
in the common case.
"""

from __future__ import annotations

import math
from array import array

from donkey.media.frame import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SILENCE, split_frames


class FilePlayer:
    """Plays decoded frames once or looped.

    ``frames`` may be None while a large file is still being decoded in a
    worker thread: the player then yields silence instead of ending.
    """

    __slots__ = ("path", "frames", "loop", "pos", "failed")

    def __init__(
        self, frames: tuple[bytes, ...] | None, loop: bool = False, path: str = ""
    ) -> None:
        self.path = path
        self.frames = frames
        self.loop = loop
        self.pos = 0
        self.failed = False

    def loaded(self, frames: tuple[bytes, ...]) -> None:
        self.frames = frames

    def read(self) -> bytes | None:
        frames = self.frames
        if frames is None:
            return None if self.failed else SILENCE
        pos = self.pos
        if pos >= len(frames):
            if not self.loop or not frames:
                return None
            pos = 0
        self.pos = pos + 1
        return frames[pos]

    def rewind(self) -> None:
        self.pos = 0


class SilenceSource:
    """``ms`` of silence (rounded up to whole frames)."""

    __slots__ = ("remaining",)

    def __init__(self, ms: int) -> None:
        self.remaining = max(0, -(-int(ms) // FRAME_MS))

    def read(self) -> bytes | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return SILENCE


class RingtoneSource:
    """Cadenced tone: ``f`` (+ ``f2``) for ``on_ms``, silence for ``off_ms``.

    Plays for ``length_ms`` in total; ``length_ms <= 0`` plays until flushed.
    """

    __slots__ = ("_frames", "_idx", "remaining")

    def __init__(
        self,
        length_ms: int,
        on_ms: int,
        off_ms: int,
        f: float,
        f2: float = 0.0,
        level: float = 0.25,
    ) -> None:
        on_ms = max(0, int(on_ms))
        off_ms = max(0, int(off_ms))
        period = on_ms + off_ms
        if period <= 0:
            raise ValueError("ringtone needs on_ms + off_ms > 0")
        # Whole number of frames per cadence so the pattern loops cleanly.
        n_frames = -(-period // FRAME_MS)
        on_samples = on_ms * SAMPLE_RATE // 1000
        amp = 32767.0 * level
        w1 = 2 * math.pi * f / SAMPLE_RATE
        w2 = 2 * math.pi * f2 / SAMPLE_RATE
        samples = array("h", bytes(n_frames * FRAME_BYTES))
        for i in range(on_samples):
            v = math.sin(w1 * i) + (math.sin(w2 * i) if f2 else 0.0)
            samples[i] = int(amp * v)
        self._frames = split_frames(samples.tobytes())
        self._idx = 0
        self.remaining = -(-int(length_ms) // FRAME_MS) if length_ms > 0 else -1

    def read(self) -> bytes | None:
        r = self.remaining
        if r == 0:
            return None
        if r > 0:
            self.remaining = r - 1
        frames = self._frames
        i = self._idx
        self._idx = i + 1 if i + 1 < len(frames) else 0
        return frames[i]


class PcmSource(FilePlayer):
    """Plays in-memory PCM (already 8 kHz mono 16-bit), e.g. a cached prompt."""

    __slots__ = ()

    def __init__(self, pcm: bytes, loop: bool = False) -> None:
        super().__init__(split_frames(pcm), loop, "<pcm>")
