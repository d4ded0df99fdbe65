"""WAV files in and out.

Reading accepts what prompt and music files usually are -- 8/16/24/32-bit
PCM, A-law or µ-law, mono or stereo, any common rate (8, 16, 32, 44.1,
48 kHz) -- and converts to the media layer's 8 kHz mono 16-bit PCM once,
at load time.  Writing produces 8 kHz 16-bit mono files for recordings.

Blocking: :func:`load_wav` decodes a whole file synchronously.  Prompts are
small (tens of kB) so the playlist loads them on the reactor thread through
a :class:`WavCache` (each file is decoded once, re-read only when its
mtime/size changes).  For big files use :func:`load_wav_async`, which
decodes in a worker thread and fills the same cache.

There is no process-wide cache: whoever builds media owns one and hands it
down (the server makes one for all its calls, a test makes its own), so
two servers in one process, or two tests, never share decoded audio.
"""

from __future__ import annotations

import os
import struct
import threading
from typing import TYPE_CHECKING, BinaryIO

from donkey.media._audioop import audioop
from donkey.media.frame import SAMPLE_RATE, split_frames

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_ALAW = 6
WAVE_FORMAT_MULAW = 7
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class MediaFileError(IOError):
    """A media file is missing, unreadable or not a supported WAV.

    ``path`` is what the DSM layer reports as ``#path`` of the ``file`` exception.
    """

    def __init__(self, path: str, reason: str = "cannot open") -> None:
        super().__init__("%s: %s" % (path, reason))
        self.path = path
        self.reason = reason


def decode_wav_bytes(data: bytes, path: str = "<memory>") -> bytes:
    """Convert a complete WAV file image to 8 kHz mono 16-bit PCM."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MediaFileError(path, "not a RIFF/WAVE file")
    fmt = None
    pcm = None
    pos = 12
    n = len(data)
    while pos + 8 <= n:
        cid = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]  # truncated data chunks are tolerated
        if cid == b"fmt ":
            if len(body) < 16:
                raise MediaFileError(path, "short fmt chunk")
            fmt = struct.unpack_from("<HHIIHH", body, 0)
            if fmt[0] == WAVE_FORMAT_EXTENSIBLE:
                if len(body) < 26:
                    raise MediaFileError(path, "short extensible fmt chunk")
                sub = struct.unpack_from("<H", body, 24)[0]
                fmt = (sub,) + fmt[1:]
        elif cid == b"data":
            pcm = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise MediaFileError(path, "missing fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if channels not in (1, 2) or rate <= 0:
        raise MediaFileError(path, "unsupported layout: %d channels at %d Hz" % (channels, rate))
    if tag == WAVE_FORMAT_PCM:
        if bits not in (8, 16, 24, 32):
            raise MediaFileError(path, "unsupported PCM sample size %d" % bits)
        width = bits // 8
        pcm = pcm[: len(pcm) - len(pcm) % (width * channels)]
        if width == 1:  # 8-bit WAV is unsigned
            pcm = audioop.lin2lin(audioop.bias(pcm, 1, -128), 1, 2)
        elif width != 2:
            pcm = audioop.lin2lin(pcm, width, 2)
    elif tag == WAVE_FORMAT_MULAW:
        pcm = audioop.ulaw2lin(pcm[: len(pcm) - len(pcm) % channels], 2)
    elif tag == WAVE_FORMAT_ALAW:
        pcm = audioop.alaw2lin(pcm[: len(pcm) - len(pcm) % channels], 2)
    else:
        raise MediaFileError(path, "unsupported WAV format tag %#x" % tag)
    if channels == 2:
        pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
    if rate != SAMPLE_RATE:
        pcm, _ = audioop.ratecv(pcm, 2, 1, rate, SAMPLE_RATE, None)
    return bytes(pcm)


def load_wav(path: str) -> bytes:
    """Read and convert a WAV file synchronously (raises :class:`MediaFileError`)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise MediaFileError(path, e.strerror or "cannot open") from None
    return decode_wav_bytes(data, path)


class WavCache:
    """Decoded files, split into frames, keyed by path and (mtime, size).

    Playback just indexes the cached tuple of frames, so N calls playing the
    same prompt share one copy and allocate nothing per frame -- provided
    they share the cache: the server builds one and passes it to every
    :class:`~donkey.media.session.MediaSession`.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: dict[str, tuple[tuple[int, int], tuple[bytes, ...]]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def _stamp(self, path: str) -> tuple[int, int]:
        try:
            st = os.stat(path)
        except OSError as e:
            raise MediaFileError(path, e.strerror or "cannot open") from None
        return (st.st_mtime_ns, st.st_size)

    def get(self, path: str) -> tuple[bytes, ...] | None:
        """Cached frames if still fresh, else None (raises if the file is gone)."""
        stamp = self._stamp(path)
        hit = self._entries.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        return None

    def frames(self, path: str) -> tuple[bytes, ...]:
        """Frames of *path*, decoding it now if needed (blocking)."""
        hit = self.get(path)
        if hit is not None:
            return hit
        stamp = self._stamp(path)
        frames = split_frames(load_wav(path))
        self._put(path, stamp, frames)
        return frames

    def _put(self, path: str, stamp: tuple[int, int], frames: tuple[bytes, ...]) -> None:
        size = len(frames) * 320
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= len(old[1]) * 320
            while self._entries and self._bytes + size > self.max_bytes:
                _, (_, ev) = self._entries.popitem()  # evict something; files reload on demand
                self._bytes -= len(ev) * 320
            self._entries[path] = (stamp, frames)
            self._bytes += size

    def clear(self) -> None:
        """Forget every decoded file (they reload on their next use)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def _decode_frames(path: str) -> tuple[bytes, ...]:
    return split_frames(load_wav(path))


def load_wav_async(path: str, wav_cache: WavCache | None = None) -> Deferred[tuple[bytes, ...]]:
    """Decode *path* in a worker thread; the Deferred fires with its frames.

    With *wav_cache* the frames are also kept there (and taken from it when
    fresh); without one they are decoded for this caller only.
    """
    from twisted.internet.threads import deferToThread

    if wav_cache is None:
        return deferToThread(_decode_frames, path)
    return deferToThread(wav_cache.frames, path)


class WavWriter:
    """Writes 8 kHz 16-bit mono PCM to a WAV file, header always consistent.

    The RIFF/data sizes are rewritten on :meth:`close` and every
    ``sync_frames`` frames, so a file cut short by a crash is still playable
    up to the last sync.
    """

    def __init__(self, path: str, sync_frames: int = 50) -> None:
        self.path = path
        try:
            self._f: BinaryIO | None = open(path, "wb")
        except OSError as e:
            raise MediaFileError(path, e.strerror or "cannot open for writing") from None
        self.data_size = 0
        self._sync_every = sync_frames
        self._since_sync = 0
        self._f.write(self._header(0))

    @staticmethod
    def _header(data_size: int) -> bytes:
        return struct.pack(
            "<4sI4s4sIHHIIHH4sI",
            b"RIFF",
            36 + data_size,
            b"WAVE",
            b"fmt ",
            16,
            WAVE_FORMAT_PCM,
            1,
            SAMPLE_RATE,
            SAMPLE_RATE * 2,
            2,
            16,
            b"data",
            data_size,
        )

    def write(self, pcm: bytes) -> None:
        f = self._f
        if f is None:
            return
        f.write(pcm)
        self.data_size += len(pcm)
        self._since_sync += 1
        if self._since_sync >= self._sync_every:
            self._since_sync = 0
            self._fix_header()

    def _fix_header(self) -> None:
        f = self._f
        assert f is not None
        f.seek(4)
        f.write(struct.pack("<I", 36 + self.data_size))
        f.seek(40)
        f.write(struct.pack("<I", self.data_size))
        f.seek(0, 2)
        f.flush()

    @property
    def closed(self) -> bool:
        return self._f is None

    def close(self) -> None:
        """Fix up sizes and close (idempotent)."""
        f = self._f
        if f is None:
            return
        try:
            self._fix_header()
        finally:
            self._f = None
            f.close()
