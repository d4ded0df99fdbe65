"""mod_conference: conference rooms for DSM calls.

Actions: ``conference.join(room[, mode])`` (mode ``""``, ``speakonly``,
``listenonly``), ``conference.leave()``, ``conference.rejoin(room[, mode])``,
``conference.teejoin(room[, id])``, ``conference.teeleave([id])``,
``conference.postEvent(room, event_id)``, ``conference.size(room, var)``,
``conference.setPlayoutType(type)``, ``conference.setupMixIn(level, seconds)``,
``conference.playMixIn(file)``, ``conference.playMixInList(file[, loop])``,
``conference.flushMixInList()``.

Rooms live in the runtime's :class:`~donkey.media.conference.ConferenceBridge`;
a member's channel becomes the session's media input and output, so it hears
the others and never itself.  The channel is freed when the session ends.
"""

from __future__ import annotations

from typing import Any

from donkey.dsm import events as ev
from donkey.dsm.errors import DSMException
from donkey.dsm.events import Event
from donkey.dsm.module import Module
from donkey.media.conference import ConferenceBridge, Tee
from donkey.media.mixin import MixIn
from donkey.media.wav import WavCache

CHANNEL = "conference.channel"
TEE = "conference.tee"
MIXIN = "conference.mixin"


class ConferenceModule(Module):
    def on_session_end(self, session: Any) -> None:
        for key in (CHANNEL, TEE):
            channel = session.objects.pop(key, None)
            if channel is not None:
                channel.close()
        for key in [k for k in session.objects if k.startswith(TEE + ".")]:
            session.objects.pop(key).close()


module = ConferenceModule("mod_conference")


def _bridge(session: Any) -> ConferenceBridge:
    """The runtime's rooms; a runtime built without any (the harness) gets clock-less ones."""
    runtime = session.runtime
    if runtime.conference is None:
        runtime.conference = ConferenceBridge()
    return runtime.conference


def _join(session: Any, event: Event, args: tuple[str, ...], what: str) -> None:
    media = session.require_media(what)
    room = session.resolve(args[0], event)
    mode = session.resolve(args[1], event) if len(args) > 1 else ""
    old = session.objects.pop(CHANNEL, None)
    if old is not None:
        old.close()
    try:
        channel = _bridge(session).join(room, mode, owner=session)
    except ValueError as e:
        raise DSMException("conference", text=str(e)) from None
    session.objects[CHANNEL] = channel
    media.set_input(channel)
    media.set_output(channel)
    media.connect()


@module.action("conference.join", split=",", optional=True)
def join(session: Any, event: Event, args: tuple[str, ...]) -> None:
    _join(session, event, args, "conference.join")


@module.action("conference.rejoin", split=",", optional=True)
def rejoin(session: Any, event: Event, args: tuple[str, ...]) -> None:
    _join(session, event, args, "conference.rejoin")


@module.action("conference.leave")
def leave(session: Any, event: Event, args: tuple[str, ...]) -> None:
    channel = session.objects.pop(CHANNEL, None)
    if channel is None:
        session.set_errno("script", "conference.leave: not in a conference\n")
        return
    channel.close()
    media = session.require_media("conference.leave")
    media.set_input(None)
    media.set_output(None)
    session.clear_errno()


@module.action("conference.teejoin", split=",", optional=True)
def teejoin(session: Any, event: Event, args: tuple[str, ...]) -> None:
    media = session.require_media("conference.teejoin")
    room = session.resolve(args[0], event)
    key = TEE + ("." + session.resolve(args[1], event) if len(args) > 1 and args[1] else "")
    channel = _bridge(session).tee_join(room, owner=session)
    old = session.objects.pop(key, None)
    if old is not None:
        old.close()
    session.objects[key] = channel
    media.set_output(Tee(media.output, channel))


@module.action("conference.teeleave")
def teeleave(session: Any, event: Event, args: tuple[str, ...]) -> None:
    key = TEE + ("." + session.resolve(args[0], event) if args[0] else "")
    channel = session.objects.pop(key, None)
    if channel is not None:
        channel.close()
    session.require_media("conference.teeleave").set_in_out_playlist()


@module.action("conference.postEvent", split=",")
def post_event(session: Any, event: Event, args: tuple[str, ...]) -> None:
    room = session.resolve(args[0], event)
    event_id = session.resolve(args[1], event)
    if not event_id.isdigit():
        session.set_errno("arg", f"conference.postEvent: event id '{event_id}' is not a number\n")
        return
    for member in _bridge(session).members(room):
        if member is not None and hasattr(member, "post"):
            member.post(Event(ev.EVENT, {"type": "conference_event", "id": event_id}))
    session.clear_errno()


@module.action("conference.size", split=",")
def size(session: Any, event: Event, args: tuple[str, ...]) -> None:
    room = session.resolve(args[0], event)
    session.vars[args[1].lstrip("$")] = str(_bridge(session).size(room))


@module.action("conference.setPlayoutType")
def set_playout_type(session: Any, event: Event, args: tuple[str, ...]) -> None:
    kind = session.resolve(args[0], event)
    if kind not in ("adaptive", "jb", "simple"):
        session.set_errno("arg", f"unknown playout type '{kind}'\n")
        return
    session.clear_errno()  # one playout mode (frames are clocked, no jitter buffer choice)


@module.action("conference.setupMixIn", split=",", optional=True)
def setup_mixin(session: Any, event: Event, args: tuple[str, ...]) -> None:
    media = session.require_media("conference.setupMixIn")
    try:
        level = float(session.resolve(args[0], event) or "0.5")
        seconds = int(session.resolve(args[1], event) or "0")
    except ValueError:
        session.set_errno("arg", "conference.setupMixIn: level and seconds must be numbers\n")
        return
    mixin = MixIn(media.input, level, seconds, _wav_cache(media))
    session.objects[MIXIN] = mixin
    media.set_input(mixin)


def _wav_cache(media: Any) -> WavCache | None:
    """The call's decoded-file cache, so mixed-in prompts are shared with the server.

    A media handle that has none (the harness records calls instead of
    playing) leaves the mix-in its own.
    """
    cache = getattr(media, "wav_cache", None)
    return cache if isinstance(cache, WavCache) else None


def _mixin(session: Any, what: str) -> MixIn:
    mixin = session.objects.get(MIXIN)
    if mixin is None:
        raise DSMException("conference", text=f"{what}: call conference.setupMixIn first")
    return mixin


@module.action("conference.playMixIn")
def play_mixin(session: Any, event: Event, args: tuple[str, ...]) -> None:
    path = session.resolve(args[0], event)
    try:
        _mixin(session, "conference.playMixIn").play_file(path)
    except OSError as e:
        raise DSMException("file", path=path, text=str(e)) from None


@module.action("conference.playMixInList", split=",", optional=True)
def play_mixin_list(session: Any, event: Event, args: tuple[str, ...]) -> None:
    path = session.resolve(args[0], event)
    # exactly "true", as SEMS compares it: a script argument, not a config switch
    loop = session.resolve(args[1], event) == "true"
    try:
        _mixin(session, "conference.playMixInList").add_file(path, loop=loop)
    except OSError as e:
        raise DSMException("file", path=path, text=str(e)) from None


@module.action("conference.flushMixInList")
def flush_mixin_list(session: Any, event: Event, args: tuple[str, ...]) -> None:
    _mixin(session, "conference.flushMixInList").flush()
