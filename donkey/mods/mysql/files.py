"""``mod_mysql``'s actions that move whole files between the database and disk or media."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred

from donkey.mods.mysql import work
from donkey.mods.mysql.base import TMPFILES, module, run, session_handle
from donkey.mods.mysql.binding import prepare_query, render


def _play_db_audio(
    loop: bool, front: bool, what: str
) -> Callable[[Any, Any, tuple], Deferred | None]:
    """``playDBAudio`` and its front/looped variants: fetch to a temporary file, then play it."""

    def action(session: Any, event: Any, args: tuple) -> Deferred | None:
        media = session.require_media(what)
        handle = session_handle(session)
        if handle is None:
            return None
        template, name = args
        filename = session.resolve(name, event)
        suffix = os.path.splitext(filename)[1] or ".wav"
        sql, params = render(template, session, event, handle.db.dialect)

        def done(path: str) -> None:
            session.objects.setdefault(TMPFILES, []).append(path)
            try:
                media.play_file(path, loop=loop, front=front)
            except (OSError, ValueError) as e:
                session.set_errno("file", f"cannot play audio from DB: {e}")
                return
            session.clear_errno()

        return run(session, handle, work.to_tempfile, sql, params, suffix, done=done)

    return action


module.action("mysql.playDBAudio", split=",", optional=True, prepare=prepare_query)(
    _play_db_audio(False, False, "mysql.playDBAudio")
)
module.action("mysql.playDBAudioFront", split=",", optional=True, prepare=prepare_query)(
    _play_db_audio(False, True, "mysql.playDBAudioFront")
)
module.action("mysql.playDBAudioLooped", split=",", optional=True, prepare=prepare_query)(
    _play_db_audio(True, False, "mysql.playDBAudioLooped")
)


@module.action("mysql.getFileFromDB", split=",", optional=True, prepare=prepare_query)
def _get_file_from_db(session: Any, event: Any, args: tuple) -> Deferred | None:
    handle = session_handle(session)
    if handle is None:
        return None
    template, name = args
    path = session.resolve(name, event)
    sql, params = render(template, session, event, handle.db.dialect)
    return run(
        session, handle, work.to_file, sql, params, path, done=lambda _: session.clear_errno()
    )


@module.action("mysql.putFileToDB", split=",", optional=True, prepare=prepare_query)
def _put_file_to_db(session: Any, event: Any, args: tuple) -> Deferred | None:
    handle = session_handle(session)
    if handle is None:
        return None
    template, name = args
    if not template.has_file:
        session.set_errno("arg", f"missing __FILE__ in query string '{template.text}'")
        return None
    path = session.resolve(name, event)
    sql, params = render(template, session, event, handle.db.dialect, with_file=True)

    def done(res: tuple[int, int]) -> None:
        session.clear_errno()
        session.vars["db.rows"] = str(res[0])
        session.vars["db.info"] = ""
        session.vars["db.insert_id"] = str(res[1])

    return run(session, handle, work.put_file, sql, params, path, done=done)
