"""donkey.media: RTP media for donkey calls (SEMS-like media processor).

One :class:`MediaClock` ticks every 20 ms for all calls; each call has a
:class:`MediaSession` (RTP endpoint, codec, playlist, DTMF, recorder).
Conferences are rooms in a :class:`ConferenceBridge` mixed on the same tick.
Decoded prompt files live in a :class:`WavCache` the server creates once and
hands to every :class:`MediaSession` (there is no process-wide one).
"""

from donkey.media.clock import MediaClock
from donkey.media.conference import (
    LISTEN_ONLY,
    SPEAK_LISTEN,
    SPEAK_ONLY,
    ConferenceBridge,
    ConferenceChannel,
    ConferenceError,
    Tee,
)
from donkey.media.frame import (
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    SILENCE,
    Sink,
    Source,
)
from donkey.media.mixin import MixIn
from donkey.media.playlist import Playlist
from donkey.media.prompts import PromptCollection, PromptNotFound, PromptSets
from donkey.media.recorder import Recorder
from donkey.media.rtp import NoMediaPortAvailable, PortAllocator, RtpEndpoint, RtpPacket
from donkey.media.sdp import Negotiated, SdpError, SdpNegotiator, UnsupportedOffer
from donkey.media.session import MediaSession
from donkey.media.wav import MediaFileError, WavCache, load_wav, load_wav_async

__all__ = [
    "MediaClock",
    "MediaSession",
    "ConferenceBridge",
    "ConferenceChannel",
    "ConferenceError",
    "Tee",
    "SPEAK_LISTEN",
    "SPEAK_ONLY",
    "LISTEN_ONLY",
    "MixIn",
    "Playlist",
    "PromptCollection",
    "PromptNotFound",
    "PromptSets",
    "Recorder",
    "NoMediaPortAvailable",
    "PortAllocator",
    "RtpEndpoint",
    "RtpPacket",
    "Negotiated",
    "SdpError",
    "SdpNegotiator",
    "UnsupportedOffer",
    "MediaFileError",
    "WavCache",
    "load_wav",
    "load_wav_async",
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLE_RATE",
    "SAMPLES_PER_FRAME",
    "SILENCE",
    "Source",
    "Sink",
]
