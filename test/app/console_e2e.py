"""Shared set-up of the console's end-to-end tests: quizconnect on the demo SQLite database.

The sipp parties and monitoring look-ups are those of
:class:`test.test_quizconnect_e2e.QuizconnectE2E` (borrowed, not inherited,
so its tests do not run twice).
"""

from __future__ import annotations

import os
import urllib.request

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from test.daemon import Daemon
from test.test_quizconnect_e2e import APP_DIR, PROMPTS, QuizconnectE2E, write_config


class ConsoleE2E(unittest.TestCase):
    """quizconnect's daemon with extra ``sems.conf`` lines, on the shipped SQLite demo db."""

    sems_extra = ""

    setUp = QuizconnectE2E.setUp
    caller = QuizconnectE2E.caller
    callees = QuizconnectE2E.callees
    by_party = QuizconnectE2E.by_party
    states_are = QuizconnectE2E.states_are

    async def start_demo(self) -> Daemon:
        sems_conf, _ = write_config(
            os.path.join(self.files, "conf"),
            {
                "diag_path": APP_DIR + "/",
                "prompt_path": PROMPTS + "/",
                "db_url": "sqlite://${state_dir}/quizconnect.db",
                "outbound_domain": f"127.0.0.1:{self.uas_port}",
            },
        )
        with open(sems_conf, "a") as f:
            f.write(self.sems_extra)
        self.daemon = Daemon(self, config=sems_conf)
        await self.daemon.ready()
        return self.daemon

    async def fetch(self, path: str) -> str:
        """GET ``path`` from the daemon's control-plane port (in a thread)."""

        def get() -> str:
            with urllib.request.urlopen(self.daemon.url + path, timeout=10) as r:
                return r.read().decode("utf-8")

        return await deferToThread(get)
