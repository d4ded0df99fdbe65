"""Audio codecs behind one small interface, plus a registry by name and PT.

The media layer works on 20 ms frames of 16-bit signed little-endian PCM at
8 kHz; a codec turns such a frame into an RTP payload and back.  New codecs
register themselves with :func:`register` so SDP negotiation can find them by
the encoding name offered by the peer (or by static payload type).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Codec(Protocol):
    """What the media layer needs from a codec.

    The three attributes are read-only (properties here), so an immutable
    codec such as a frozen dataclass satisfies the protocol.
    """

    @property
    def name(self) -> str:
        """SDP encoding name, e.g. ``PCMU``."""
        ...

    @property
    def payload_type(self) -> int:
        """Static (or preferred dynamic) RTP payload type."""
        ...

    @property
    def clock_rate(self) -> int:
        """RTP clock rate, Hz."""
        ...

    def encode(self, pcm: bytes) -> bytes:
        """Encode linear 16-bit PCM at 8 kHz into an RTP payload."""
        ...

    def decode(self, payload: bytes) -> bytes:
        """Decode an RTP payload into linear 16-bit PCM at 8 kHz."""
        ...


class UnknownCodec(LookupError):
    """No codec is registered under that name / payload type."""


_by_name: dict[str, Codec] = {}
_by_pt: dict[int, Codec] = {}


def register(codec: Codec) -> Codec:
    """Make *codec* available to SDP negotiation (last registration wins)."""
    _by_name[codec.name.upper()] = codec
    _by_pt[codec.payload_type] = codec
    return codec


def by_name(name: str) -> Codec:
    """Codec for an SDP encoding name (case-insensitive)."""
    try:
        return _by_name[name.upper()]
    except KeyError:
        raise UnknownCodec(name) from None


def by_payload_type(pt: int) -> Codec:
    """Codec for a static RTP payload type."""
    try:
        return _by_pt[pt]
    except KeyError:
        raise UnknownCodec(pt) from None


def find(name: str) -> Codec | None:
    """Like :func:`by_name` but returns None when unknown."""
    return _by_name.get(name.upper())


def names() -> list[str]:
    """Registered encoding names, in registration (= preference) order."""
    return [c.name for c in _by_name.values()]


# Register the built-in codecs.
from donkey.media.codecs import g711 as _g711  # noqa: E402,F401

__all__ = ["Codec", "UnknownCodec", "register", "by_name", "by_payload_type", "find", "names"]
