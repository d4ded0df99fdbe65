"""The unit of audio everywhere in the media layer, and the Source/Sink shapes.

A frame is 20 ms of 16-bit signed little-endian linear PCM at 8 kHz: 160
samples, 320 bytes, as an immutable ``bytes``.  Sources hand out frames one at
a time on each clock tick; sinks take them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

SAMPLE_RATE = 8000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = SAMPLES_PER_FRAME * 2  # 320

#: One shared frame of silence; sources return it instead of allocating.
SILENCE = bytes(FRAME_BYTES)


@runtime_checkable
class Source(Protocol):
    """Produces one frame per call; ``None`` means exhausted."""

    def read(self) -> bytes | None: ...


@runtime_checkable
class Sink(Protocol):
    """Consumes one frame per call."""

    def write(self, frame: bytes) -> None: ...


def split_frames(pcm: bytes) -> tuple[bytes, ...]:
    """Cut PCM into whole frames, zero-padding the last one.

    Done once per file so playback just indexes a tuple (no per-frame slicing).
    """
    n = len(pcm)
    if n % 2:
        pcm = pcm[:-1]
        n -= 1
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, n, FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + bytes(FRAME_BYTES - len(frames[-1]))
    return tuple(frames)
