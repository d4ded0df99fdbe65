"""A MariaDB restart in the middle of a run: ``connection`` errors, then recovery.

The test starts its own MariaDB server (a fresh data directory, a free port)
so that it can stop and restart it by PID without touching anyone else's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile

import pymysql
from twisted.internet import threads
from twisted.trial import unittest

from donkey.dsm.harness import Harness
from donkey.mods import mysql as modmysql
from test.daemon import free_port
from test.dsm.helpers import write_scripts
from test.util import wait_until

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db")

SCRIPT = """
import(mod_mysql);
initial state START;
transition "boot" START - startup / {
  mysql.connect();
  mysql.query(select count(*) as n from callees);
  set($e0=$errno);
  mysql.getResult();
} -> UP;
state UP;
transition "query" UP - event(#phase == down) / {
  mysql.query(select count(*) as n from callees);
  set($e_down=$errno);
  if mysql.connected() { set($c_down=yes); } else { set($c_down=no); }
} -> DOWN;
state DOWN;
transition "again" DOWN - event(#phase == up) / {
  mysql.query(select count(*) as n from callees);
  set($e_up=$errno);
  clear($n);
  mysql.getResult();
  if mysql.connected() { set($c_up=yes); } else { set($c_up=no); }
} -> BACK;
state BACK;
"""


class PrivateMariaDB:
    """mariadbd on its own data directory and port; started and stopped by PID."""

    def __init__(self, directory: str):
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.port = free_port(socket.SOCK_STREAM)
        self.process: subprocess.Popen | None = None
        # A Unix socket path must stay short (108 bytes): keep it out of _trial_temp.
        self.run_dir = tempfile.mkdtemp(prefix="donkey-mdb-")

    def install(self) -> None:
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={self.data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.data}",
                "--user=root",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={os.path.join(self.run_dir, 'sock')}",
                f"--pid-file={os.path.join(self.run_dir, 'pid')}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def connect(self):
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", connect_timeout=1
        )

    async def wait_up(self) -> None:
        """Return once the private server accepts connections."""

        def answers() -> bool:
            try:
                self.connect().close()
                return True
            except pymysql.err.OperationalError:
                return False

        async def up() -> bool:
            return await threads.deferToThread(answers)

        await wait_until(up, 15, "the private MariaDB to accept connections", interval=0.1)


class RestartTests(unittest.TestCase):
    timeout = 120

    def setUp(self):
        if INSTALL_DB is None or not os.path.exists(MARIADBD):
            raise unittest.SkipTest("MariaDB server binaries are not installed")
        self.server = PrivateMariaDB(os.path.abspath(self.mktemp()))
        os.makedirs(self.server.directory)
        self.server.install()
        self.server.start()
        self.addCleanup(self.server.cleanup)

    async def settle(self, predicate, what: str) -> None:

        def advanced():
            self.harness.advance(0)
            return predicate()

        await wait_until(advanced, 6, what, interval=0.02)

    async def test_restart_gives_connection_errors_then_recovers(self):
        """While MariaDB restarts queries fail with $errno=connection; afterwards the same script queries again."""
        await self.server.wait_up()

        def make_table():
            con = self.server.connect()
            with con.cursor() as cur:
                cur.execute("CREATE DATABASE quiz")
                cur.execute("CREATE TABLE quiz.callees (id INT PRIMARY KEY, caller VARCHAR(32))")
                cur.execute("INSERT INTO quiz.callees VALUES (1, '35'), (2, '35')")
            con.commit()
            con.close()

        await threads.deferToThread(make_table)

        directory = write_scripts(self, restart=SCRIPT)
        self.harness = Harness()
        self.harness.load(
            "main",
            {
                "diag_path": directory,
                "load_diags": "restart",
                "db_url": f"mysql://root:@127.0.0.1:{self.server.port}/quiz",
            },
        )
        self.addCleanup(modmysql.shutdown, self.harness.runtime)
        s = self.harness.system("restart")
        await self.settle(lambda: s.state == "UP", "first query")
        self.assertEqual((s.vars["e0"], s.vars["n"]), ("", "2"))

        await threads.deferToThread(self.server.stop)  # the server goes away
        s.event(phase="down")
        await self.settle(lambda: s.state == "DOWN", "query while down")
        self.assertEqual((s.vars["e_down"], s.vars["c_down"]), ("connection", "no"))

        self.server.start()  # and comes back
        await self.server.wait_up()
        s.event(phase="up")
        await self.settle(lambda: s.state == "BACK", "query after restart")
        self.assertEqual((s.vars["e_up"], s.vars["n"], s.vars["c_up"]), ("", "2", "yes"))
