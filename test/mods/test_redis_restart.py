"""A Redis restart in the middle of a run: ``connection`` errors, then recovery.

The test starts its own redis-server on a free port, kills it by PID while a
DSM is using it and starts it again on the same port; the script's next
command reconnects by itself, as SEMS's mod_redis does.
"""

from __future__ import annotations

import os
import time
from typing import Any

from twisted.internet import reactor, task, threads
from twisted.trial import unittest

from donkey.dsm.harness import Harness
from donkey.mods import redis as modredis
from test.dsm.helpers import write_scripts
from test.mods.test_redis import REDIS_SERVER, PrivateRedis, require_redis

SCRIPT = """
import(mod_redis);
initial state START;
transition "boot" START - startup / {
  redis.connect();
  set($e0=$errno);
  redis.execCommand(r0=set restart:k before);
  redis.execCommand(g0=get restart:k);
} -> UP;
state UP;
transition "while down" UP - event(#phase == down) / {
  redis.execCommand(r_down=get restart:k);
  set($e_down=$errno);
  set($s_down=$strerror);
  redis.execCommand(r_down2=ping);
  set($e_down2=$errno);
  set($s_down2=$strerror);
} -> DOWN;
state DOWN;
transition "back" DOWN - event(#phase == up) / {
  redis.execCommand(r_up=set restart:k after);
  set($e_up=$errno);
  redis.execCommand(g_up=get restart:k);
} -> BACK;
state BACK;
"""


class RestartTests(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        require_redis(None if os.path.exists(REDIS_SERVER) else "redis-server is not installed")
        self.server = PrivateRedis()
        self.server.start()
        self.addCleanup(self.server.cleanup)
        if not self.server.wait_up():
            require_redis("the private redis-server did not start")

    async def settle(self, predicate: Any, what: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.harness.advance(0)
            if predicate():
                return
            await task.deferLater(reactor, 0.02, lambda: None)
        self.fail(f"timed out waiting for {what}")

    async def test_kill_gives_connection_errors_then_restart_recovers(self) -> None:
        """Killed server: commands report ``connection``; restarted: the same session works again."""
        directory = write_scripts(self, restart=SCRIPT)
        self.harness = Harness()
        self.harness.load(
            "main",
            {
                "diag_path": directory,
                "load_diags": "restart",
                "redis_db_url": f"redis://tcp:127.0.0.1;port={self.server.port}",
            },
        )
        self.addCleanup(modredis.shutdown, self.harness.runtime)
        s = self.harness.system("restart")
        await self.settle(lambda: s.state == "UP", "the first commands")
        self.assertEqual((s.vars["e0"], s.vars["r0"], s.vars["g0"]), ("", "OK", "before"))

        self.server.kill()  # by PID, mid-run
        s.event(phase="down")
        await self.settle(lambda: s.state == "DOWN", "commands while the server is gone")
        self.assertEqual(
            (s.vars["e_down"], s.vars["s_down"], s.vars["e_down2"], s.vars["s_down2"]),
            ("connection", "REDIS connection error", "connection", "Not connected to REDIS"),
        )
        self.assertNotIn("r_down", s.vars)
        self.assertNotIn("r_down2", s.vars)

        self.server.start()  # the same port again
        up = await threads.deferToThread(self.server.wait_up)
        self.assertTrue(up, "redis-server did not restart")
        s.event(phase="up")
        await self.settle(lambda: s.state == "BACK", "commands after the restart")
        self.assertEqual((s.vars["e_up"], s.vars["r_up"], s.vars["g_up"]), ("", "OK", "after"))
        self.assertEqual(self.harness.errors(), [])
