"""G.711 µ-law (PCMU, PT 0) and A-law (PCMA, PT 8), done in C by audioop."""

from __future__ import annotations

from dataclasses import dataclass

from donkey.media._audioop import audioop
from donkey.media.codecs import register

_lin2ulaw = audioop.lin2ulaw
_ulaw2lin = audioop.ulaw2lin
_lin2alaw = audioop.lin2alaw
_alaw2lin = audioop.alaw2lin


@dataclass(frozen=True, slots=True)
class PCMU:
    """G.711 µ-law: one byte per sample, 160 bytes per 20 ms frame."""

    name: str = "PCMU"
    payload_type: int = 0
    clock_rate: int = 8000

    def encode(self, pcm: bytes) -> bytes:
        return _lin2ulaw(pcm, 2)

    def decode(self, payload: bytes) -> bytes:
        return _ulaw2lin(payload, 2)


@dataclass(frozen=True, slots=True)
class PCMA:
    """G.711 A-law: one byte per sample, 160 bytes per 20 ms frame."""

    name: str = "PCMA"
    payload_type: int = 8
    clock_rate: int = 8000

    def encode(self, pcm: bytes) -> bytes:
        return _lin2alaw(pcm, 2)

    def decode(self, payload: bytes) -> bytes:
        return _alaw2lin(payload, 2)


PCMU_CODEC = register(PCMU())
PCMA_CODEC = register(PCMA())
