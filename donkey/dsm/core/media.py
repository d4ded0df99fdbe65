"""Media actions: playing, recording, playlists and DTMF, through ``session.require_media``.

In a session without media (a system DSM) ``require_media`` raises the
``core`` exception SEMS raises there.
"""

from __future__ import annotations

from typing import Any

from donkey.dsm.core.base import core, var_name
from donkey.dsm.errors import DSMException
from donkey.dsm.module import ActionFunc
from donkey.dsm.values import to_int, to_uint_prefix


def _file_errors(func: ActionFunc) -> ActionFunc:
    """Turn a media file error into the ``file`` exception with ``#path``."""

    def wrapper(session: Any, event: Any, args: tuple) -> None:
        try:
            return func(session, event, args)
        except (OSError, LookupError) as e:
            path = getattr(e, "path", None)
            if path is None:
                path = getattr(e, "filename", None)
            if path is None:
                raise
            raise DSMException("file", path=str(path), text=str(e)) from None

    return wrapper


def resolves_true(session: Any, event: Any, text: str) -> bool:
    """The DSM flag test: the argument resolves to exactly ``true`` (not the config :func:`truthy`)."""
    return session.resolve(text, event) == "true"


@core.action("playFile", split=",", optional=True)
@_file_errors
def _play_file(session: Any, event: Any, args: tuple) -> None:
    session.require_media("playFile").play_file(
        session.resolve(args[0], event), loop=resolves_true(session, event, args[1])
    )


@core.action("playFileFront", split=",", optional=True)
@_file_errors
def _play_file_front(session: Any, event: Any, args: tuple) -> None:
    session.require_media("playFileFront").play_file(
        session.resolve(args[0], event), loop=resolves_true(session, event, args[1]), front=True
    )


def _prompt_action(front: bool, loop: bool, what: str) -> ActionFunc:
    """``playPrompt`` and its variants; an unknown prompt is the ``prompt`` exception."""

    def action(session: Any, event: Any, args: tuple) -> None:
        name = session.resolve(args[0], event)
        try:
            session.require_media(what).play_prompt(name, front=front, loop=loop)
        except LookupError:
            raise DSMException("prompt", name=name) from None

    return action


core.action("playPrompt")(_prompt_action(False, False, "playPrompt"))
core.action("playPromptFront")(_prompt_action(True, False, "playPromptFront"))
core.action("playPromptLooped")(_prompt_action(False, True, "playPromptLooped"))


@core.action("setPromptSet")
def _set_prompt_set(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[0], event)
    try:
        session.require_media("setPromptSet").set_prompt_set(name)
    except LookupError:
        raise DSMException("prompt", name=name) from None


# SEMS's documentation says setPromptSet; its core module registers the name setPrompts
core.actions["setPrompts"] = core.actions["setPromptSet"]


def _silence(front: bool, what: str) -> ActionFunc:
    """``playSilence``/``playSilenceFront``; a bad length is the ``core`` exception."""

    def action(session: Any, event: Any, args: tuple) -> None:
        ms = to_uint_prefix(session.resolve(args[0], event))
        if ms is None:
            raise DSMException(
                "core", cause=f"cannot parse silence length '{session.resolve(args[0], event)}'"
            )
        session.require_media(what).play_silence(ms, front=front)

    return action


core.action("playSilence")(_silence(False, "playSilence"))
core.action("playSilenceFront")(_silence(True, "playSilenceFront"))


@core.action("playRingtone", split=",", optional=True)
def _play_ringtone(session: Any, event: Any, args: tuple) -> None:
    name = var_name(args[0])
    values = session.vars

    def num(key: str, default: int) -> int:
        n = to_int(values.get(f"{name}.{key}", ""))
        return default if n is None else n

    session.require_media("playRingtone").play_ringtone(
        length_ms=num("length", 0),
        on_ms=num("on", 1000),
        off_ms=num("off", 0),
        f=num("f", 440),
        f2=num("f2", 0),
        front=resolves_true(session, event, args[1]),
    )


@core.action("recordFile")
@_file_errors
def _record_file(session: Any, event: Any, args: tuple) -> None:
    session.require_media("recordFile").record_file(session.resolve(args[0], event))


@core.action("stopRecord")
def _stop_record(session: Any, event: Any, args: tuple) -> None:
    session.require_media("stopRecord").stop_record()


@core.action("getRecordLength")
def _record_length(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[0], event) or "record_length"
    session.vars[name] = str(session.require_media("getRecordLength").record_length_ms)


@core.action("getRecordDataSize")
def _record_size(session: Any, event: Any, args: tuple) -> None:
    name = session.resolve(args[0], event) or "record_data_size"
    session.vars[name] = str(session.require_media("getRecordDataSize").record_data_size)


@core.action("addSeparator", split=",", optional=True)
def _add_separator(session: Any, event: Any, args: tuple) -> None:
    session.require_media("addSeparator").add_separator(
        session.resolve(args[0], event), front=resolves_true(session, event, args[1])
    )


@core.action("monitorRTPTimeout")
def _monitor_rtp_timeout(session: Any, event: Any, args: tuple) -> None:
    session.require_media("monitorRTPTimeout").monitor_rtp_timeout(
        resolves_true(session, event, args[0])
    )


def _media_method(method: str, what: str) -> ActionFunc:
    """An action that calls one argument-less method of the session's media."""

    def action(session: Any, event: Any, args: tuple) -> None:
        getattr(session.require_media(what), method)()

    return action


for _action_name, _method in (
    ("flushPlaylist", "flush_playlist"),
    ("closePlaylist", "flush_playlist"),
    # SEMS's "input" receives the caller's audio and its "output" is what the
    # caller hears; donkey's media names them the other way round.
    ("setInOutPlaylist", "set_in_out_playlist"),
    ("setInputPlaylist", "set_output_playlist"),
    ("setOutputPlaylist", "set_input_playlist"),
    ("connectMedia", "connect"),
    ("disconnectMedia", "disconnect"),
    ("enableReceiving", "enable_receiving"),
    ("disableReceiving", "disable_receiving"),
    ("enableForceDTMFReceiving", "enable_force_dtmf_receiving"),
    ("disableForceDTMFReceiving", "disable_force_dtmf_receiving"),
    ("mute", "mute"),
    ("unmute", "unmute"),
    ("enableDTMFDetection", "enable_dtmf_detection"),
    ("disableDTMFDetection", "disable_dtmf_detection"),
):
    core.action(_action_name)(_media_method(_method, _action_name))


@core.action("sendDTMF", split=",", optional=True)
def _send_dtmf(session: Any, event: Any, args: tuple) -> None:
    key = session.resolve(args[0], event)
    duration = session.resolve(args[1], event)
    key_n = to_uint_prefix(key)
    if key_n is None:
        raise DSMException("core", cause=f"invalid DTMF:{key}")
    duration_n = 500 if not duration else to_uint_prefix(duration)
    if duration_n is None:
        raise DSMException("core", cause=f"invalid DTMF duration:{duration}")
    session.require_media("sendDTMF").send_dtmf(key_n, duration_n)


@core.action("sendDTMFSequence", split=",", optional=True)
def _send_dtmf_sequence(session: Any, event: Any, args: tuple) -> None:
    sequence = session.resolve(args[0], event)
    duration = session.resolve(args[1], event)
    duration_n = 500 if not duration else to_uint_prefix(duration)
    if duration_n is None:
        raise DSMException("core", cause=f"invalid DTMF duration:{duration}")
    session.require_media("sendDTMFSequence").send_dtmf_sequence(sequence, duration_n)
