"""Reading files a caller names: only regular files, only in allowed directories, bounded.

The control plane takes paths from its callers (``loadConfig``,
``loadDSMWithPaths``); whatever they name must not hang the server (a FIFO,
the reactor's own wake-up pipe as ``/proc/self/fd/N``), exhaust its memory
(``/dev/urandom``) or show what lies outside the configuration (a symlink to
``/etc/passwd``).  So:

- :func:`confine` resolves every symlink and refuses a path whose real
  location is not inside one of the allowed directories;
- :func:`read_regular_file` opens with ``O_NONBLOCK`` (opening a FIFO never
  waits for a writer), checks with ``fstat`` on the opened descriptor that
  it is a regular file (so a swap between check and open cannot fool it),
  and reads at most :data:`MAX_FILE_SIZE` bytes.

Every refusal is a :class:`FileRefused` whose message names the path and the
reason and never any of the file's content.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

#: The largest file a caller may have read (configuration files and DSM
#: scripts are a few KiB).
MAX_FILE_SIZE = 1 << 20


class FileRefused(Exception):
    """A path that may not be read; the message says why, never what is in it."""


def _inside(real: str, directory: str) -> bool:
    return real == directory or real.startswith(directory.rstrip(os.sep) + os.sep)


def confine(path: str, allowed: Iterable[str]) -> str:
    """``path``'s real location, if it is inside one of the ``allowed`` directories.

    Symlinks are resolved on both sides, so a link inside an allowed
    directory pointing outside it is refused, and one pointing elsewhere
    inside is fine.

    :raises FileRefused: the path is outside every allowed directory (or
        there are none).
    """
    real = os.path.realpath(path)
    for directory in allowed:
        if directory and _inside(real, os.path.realpath(directory)):
            return real
    raise FileRefused(f"'{path}' is not inside an allowed configuration directory")


def is_inside(path: str, allowed: Iterable[str]) -> bool:
    """Whether :func:`confine` accepts ``path``."""
    try:
        confine(path, allowed)
    except FileRefused:
        return False
    return True


def read_regular_file(path: str, limit: int = MAX_FILE_SIZE) -> str:
    """The text of the regular file ``path`` (UTF-8, undecodable bytes replaced).

    :raises FileRefused: it cannot be opened, is not a regular file, or is
        larger than ``limit`` bytes.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise FileRefused(f"cannot open '{path}': {e.strerror or 'error'}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"'{path}' is not a regular file")
        if info.st_size > limit:
            raise FileRefused(f"'{path}' is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(f"'{path}' is larger than {limit} bytes")
    except OSError as e:
        raise FileRefused(f"cannot read '{path}': {e.strerror or 'error'}") from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")
