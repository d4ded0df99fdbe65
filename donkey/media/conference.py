"""Conference rooms, mixed on the media clock tick.

A :class:`ConferenceBridge` (one per runtime, not a global) holds rooms by
name.  :meth:`ConferenceBridge.join` returns a :class:`ConferenceChannel`,
which is both a sink (what the member says) and a source (what the member
hears).  Each tick, after every session has written its received audio and
before any reads, the bridge mixes each room: every listener gets the sum of
all *other* speakers, never its own voice.

Mixing is exact: frames are widened to 32-bit with 8 bits of headroom, summed
once per room, the member's own contribution is subtracted, and the result is
clipped back to 16 bits -- O(members) per room, all in C (audioop).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from donkey.media._audioop import audioop
from donkey.media.frame import SILENCE, Sink

if TYPE_CHECKING:
    from donkey.media.clock import MediaClock

SPEAK_LISTEN = "speaklisten"
SPEAK_ONLY = "speakonly"
LISTEN_ONLY = "listenonly"
_MODES = {
    "": SPEAK_LISTEN,
    SPEAK_LISTEN: SPEAK_LISTEN,
    SPEAK_ONLY: SPEAK_ONLY,
    LISTEN_ONLY: LISTEN_ONLY,
}

_lin2lin = audioop.lin2lin
_mul = audioop.mul
_add = audioop.add
_DOWN = 1.0 / 256.0


class ConferenceError(ValueError):
    """Bad mode or use of a closed channel."""


class ConferenceChannel:
    """A member's connection to a room: ``write()`` speaks, ``read()`` listens."""

    __slots__ = ("room", "mode", "owner", "speaks", "listens", "_in", "_wide", "_out", "_bridge")

    def __init__(self, bridge: ConferenceBridge, room: str, mode: str, owner: object) -> None:
        self._bridge: ConferenceBridge | None = bridge
        self.room = room
        self.mode = mode
        self.owner = owner
        self.speaks = mode != LISTEN_ONLY
        self.listens = mode != SPEAK_ONLY
        self._in: bytes | None = None
        self._wide: bytes | None = None
        self._out: bytes = SILENCE

    def write(self, frame: bytes) -> None:
        """What the member says this tick (ignored for a listen-only member)."""
        if self.speaks:
            self._in = frame

    def read(self) -> bytes | None:
        """What the member hears this tick: everybody else (silence if speak-only)."""
        return self._out if self.listens else SILENCE

    @property
    def closed(self) -> bool:
        """Whether the member left the room."""
        return self._bridge is None

    def close(self) -> None:
        """Leave the room (idempotent)."""
        b = self._bridge
        if b is not None:
            self._bridge = None
            b._remove(self)


class Tee:
    """Sink that forwards each frame to several sinks (tee-join, recording)."""

    __slots__ = ("sinks",)

    def __init__(self, *sinks: Sink | None) -> None:
        self.sinks = tuple(s for s in sinks if s is not None)

    def write(self, frame: bytes) -> None:
        for s in self.sinks:
            s.write(frame)


class ConferenceBridge:
    """All conference rooms of a runtime; register it on the clock to mix."""

    def __init__(self, clock: MediaClock | None = None) -> None:
        self._rooms: dict[str, list[ConferenceChannel]] = {}
        if clock is not None:
            clock.add_mixer(self)

    def join(self, room: str, mode: str = "", owner: object = None) -> ConferenceChannel:
        """Add a member; *mode* is '' (speak+listen), 'speakonly' or 'listenonly'."""
        try:
            m = _MODES[mode]
        except KeyError:
            raise ConferenceError("unknown conference mode %r" % (mode,)) from None
        ch = ConferenceChannel(self, room, m, owner)
        self._rooms.setdefault(room, []).append(ch)
        return ch

    def tee_join(self, room: str, owner: object = None) -> ConferenceChannel:
        """Speak-only channel for also talking into a second room.

        Combine with :class:`Tee` so the caller's audio reaches both rooms,
        e.g. ``session.set_output(Tee(main_channel, bridge.tee_join(r2)))``.
        """
        return self.join(room, SPEAK_ONLY, owner)

    def leave(self, channel: ConferenceChannel) -> None:
        """Take *channel* out of its room (same as ``channel.close()``)."""
        channel.close()

    def _remove(self, ch: ConferenceChannel) -> None:
        members = self._rooms.get(ch.room)
        if members is None:
            return
        try:
            members.remove(ch)
        except ValueError:
            return
        if not members:
            del self._rooms[ch.room]

    def size(self, room: str) -> int:
        """Number of members of *room* (0 for a room that does not exist)."""
        return len(self._rooms.get(room, ()))

    def members(self, room: str) -> list[object]:
        """Owner objects of the room's members (to post events to them)."""
        return [ch.owner for ch in self._rooms.get(room, ())]

    def channels(self, room: str) -> list[ConferenceChannel]:
        """The member channels of *room*, in join order."""
        return list(self._rooms.get(room, ()))

    def rooms(self) -> Iterable[str]:
        """Names of the rooms with members."""
        return list(self._rooms)

    # -- per tick
    def mix(self) -> None:
        """Called by the MediaClock between the receive and send phases."""
        for members in self._rooms.values():
            _mix_room(members)


def _mix_room(members: list[ConferenceChannel]) -> None:
    speakers = [(ch, frame) for ch in members if (frame := ch._in) is not None]
    n = len(speakers)
    if n == 0:
        for ch in members:
            ch._out = SILENCE
    elif n == 1:
        only, frame = speakers[0]
        for ch in members:
            ch._out = SILENCE if ch is only else frame
    elif n == 2:
        (a, fa), (b, fb) = speakers
        both = None
        for ch in members:
            if ch is a:
                ch._out = fb
            elif ch is b:
                ch._out = fa
            else:
                if both is None:
                    both = _add(fa, fb, 2)
                ch._out = both
    else:
        total = b""
        for ch, frame in speakers:
            w = _mul(_lin2lin(frame, 2, 4), 4, _DOWN)  # x << 8: room for 256 speakers
            ch._wide = w
            total = _add(total, w, 4) if total else w
        everyone = None
        for ch in members:
            own = ch._wide
            if own is None:
                if everyone is None:
                    everyone = _lin2lin(_mul(total, 4, 256.0), 4, 2)
                ch._out = everyone
            else:
                ch._out = _lin2lin(_mul(_add(total, _mul(own, 4, -1.0), 4), 4, 256.0), 4, 2)
    for ch, _ in speakers:
        ch._in = None
        ch._wide = None
