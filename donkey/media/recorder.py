"""Recorder: a sink that writes what the caller says to an 8 kHz WAV file.

The file is valid at every moment that matters: sizes are fixed up on
:meth:`Recorder.stop` (called by ``MediaSession.close()`` however the call
ends) and once a second while recording, so even a crash loses < 1 s.
"""

from __future__ import annotations

from donkey.media.frame import FRAME_MS
from donkey.media.wav import WavWriter


class Recorder:
    """Sink writing frames to *path*; raises ``MediaFileError`` if it can't open."""

    def __init__(self, path: str, sync_frames: int = 50) -> None:
        self.path = path
        self._w = WavWriter(path, sync_frames)
        self._frames = 0

    def write(self, frame: bytes) -> None:
        w = self._w
        if w.closed:
            return
        w.write(frame)
        self._frames += 1

    @property
    def record_length_ms(self) -> int:
        """Recorded audio length so far."""
        return self._frames * FRAME_MS

    @property
    def data_size(self) -> int:
        """Bytes of audio data written (WAV data chunk size)."""
        return self._w.data_size

    @property
    def recording(self) -> bool:
        return not self._w.closed

    def stop(self) -> None:
        """Finish the file (idempotent)."""
        self._w.close()
