"""mod_redis against a real Redis (127.0.0.1:6379, or a private redis-server if none runs).

Every action runs in a DSM script on the harness; the Redis traffic happens on
the real reactor, so tests poll until the script reached its final state.
Keys carry a prefix unique to the run and are deleted afterwards.  Without
any Redis the tests are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any

import txredisapi
from twisted.internet import reactor, task
from twisted.trial import unittest

from donkey.dsm.harness import Harness, HarnessSession
from donkey.mods import redis as modredis
from test.daemon import free_port
from test.dsm.helpers import write_scripts

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def ping(host: str = "127.0.0.1", port: int = 6379, unix: str = "") -> bool:
    """True if a Redis answers PING there (a blocking probe: only outside the reactor)."""
    try:
        if unix:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect(unix)
        else:
            s = socket.create_connection((host, port), timeout=1)
            s.settimeout(1)
        with s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """A redis-server of our own on a free port (and a Unix socket), stopped by PID."""

    def __init__(self) -> None:
        self.port = free_port(socket.SOCK_STREAM)
        # A Unix socket path must stay short (108 bytes): keep it out of _trial_temp.
        self.run_dir = tempfile.mkdtemp(prefix="donkey-redis-")
        self.unix = os.path.join(self.run_dir, "sock")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--unixsocket",
                self.unix,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                self.run_dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_up(self, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ping(port=self.port):
                return True
            if self.process is not None and self.process.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """Kill the server by its PID (SIGKILL: no goodbye to the clients)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _find_redis() -> tuple[int, str | None]:
    """The port of a Redis for these tests, or why there is none."""
    if ping(port=6379):
        return 6379, None
    if not os.path.exists(REDIS_SERVER):
        return 0, "no Redis on 127.0.0.1:6379 and redis-server is not installed"
    server = PrivateRedis()
    server.start()
    atexit.register(server.cleanup)
    if server.wait_up():
        return server.port, None
    return 0, "no Redis on 127.0.0.1:6379 and a private redis-server did not start"


PORT, SKIP_REASON = _find_redis()


def require_redis(reason: str | None) -> None:
    """Skip without Redis, but fail under CI=true: there a missing Redis is a broken setup."""
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        raise AssertionError(f"Redis is required under CI=true: {reason}")
    raise unittest.SkipTest(reason)


class RedisScriptTests(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        require_redis(SKIP_REASON)
        self.prefix = f"donkeytest:{uuid.uuid4().hex}:"
        self.url = f"redis://tcp:127.0.0.1;port={PORT}"
        self.runtimes: list[Any] = []
        self.addCleanup(self._cleanup)

    async def _cleanup(self) -> None:
        for runtime in self.runtimes:
            modredis.shutdown(runtime)
        conn = await txredisapi.Connection("127.0.0.1", PORT, reconnect=False)
        try:
            keys = await conn.keys(self.prefix + "*")
            if keys:
                await conn.delete(*keys)
        finally:
            await conn.disconnect()

    async def direct(self, *argv: str) -> Any:
        """Run a command on a connection of the test's own (to check what the module did)."""
        conn = await txredisapi.Connection("127.0.0.1", PORT, reconnect=False)
        try:
            return await conn.execute_command(*argv)
        finally:
            await conn.disconnect()

    def harness(self, conf: dict | None = None, **scripts: str) -> Harness:
        directory = write_scripts(self, **scripts)
        h = Harness()
        bundle = {"diag_path": directory, "load_diags": ",".join(scripts), "redis_db_url": self.url}
        bundle.update(conf or {})
        h.load("main", bundle)
        self.runtimes.append(h.runtime)
        return h

    async def settle(self, predicate: Any, what: str = "the script to finish") -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if predicate():
                return
            await task.deferLater(reactor, 0.01, lambda: None)
        self.fail(f"timed out waiting for {what}")

    async def run_script(
        self, body: str, conf: dict | None = None, connect: str = "redis.connect();"
    ) -> HarnessSession:
        """Run ``body`` (``K`` stands for the key prefix) after connecting; the session when DONE."""
        h = self.harness(
            conf,
            t=f"""
            import(mod_redis);
            initial state START;
            transition "go" START - startup / {{
              {connect}
              set($e_connect=$errno);
              {body.replace("K:", self.prefix)}
            }} -> DONE;
            state DONE;
            """,
        )
        s = h.system("t")
        await self.settle(lambda: s.state == "DONE" or s.ended)
        self.assertEqual(h.errors(), [])
        self.h = h
        return s

    # -- results ------------------------------------------------------------------
    async def test_replies_become_variables(self) -> None:
        """Strings, statuses, integers, nil and (nested) arrays land in $var, $var[i], $var[i][j]."""
        s = await self.run_script(
            """
            redis.execCommand(r_set=set K:a hello);
            redis.execCommand(r_get="get K:a");
            redis.execCommand($r_incr=incr K:n);
            redis.execCommand(r_nil=get K:missing);
            redis.execCommand(r_push=rpush K:l one two three);
            redis.execCommand(r_list=lrange K:l 0 -1);
            redis.execCommand(r_nested=eval return{1,{2,3}} 0);
            set($e_end=$errno);
            """
        )
        v = s.vars
        self.assertEqual(
            (v["e_connect"], v["r_set"], v["r_get"], v["r_incr"], v["r_nil"], v["r_push"]),
            ("", "OK", "hello", "1", "nil", "3"),
        )
        self.assertEqual([v["r_list[0]"], v["r_list[1]"], v["r_list[2]"]], ["one", "two", "three"])
        self.assertEqual(
            [v["r_nested[0]"], v["r_nested[1][0]"], v["r_nested[1][1]"]], ["1", "2", "3"]
        )
        self.assertNotIn("r_list", v)
        self.assertEqual(v["e_end"], "")
        self.assertEqual(await self.direct("GET", self.prefix + "a"), "hello")

    async def test_command_built_in_a_variable(self) -> None:
        """As SEMS's Readme shows: ``sets($cmd=...)`` then ``redis.execCommand(r=$cmd)``."""
        await self.direct("SET", self.prefix + "user", "alice")
        s = await self.run_script(
            """
            set($who=user);
            sets($cmd=get K:$(who));
            redis.execCommand(r_result=$cmd);
            sets($cmd2=set K:copy $(r_result));
            redis.execCommand(r2=$cmd2);
            """
        )
        self.assertEqual((s.vars["r_result"], s.vars["r2"]), ("alice", "OK"))
        self.assertEqual(await self.direct("GET", self.prefix + "copy"), "alice")

    async def test_words_split_at_blanks_and_quotes_stay(self) -> None:
        """A command's words split at blanks; quotes are kept, as hiredis's format has it."""
        s = await self.run_script(
            """
            redis.execCommand(r1=set K:q "quoted");
            redis.execCommand(r2=set K:pct 100%%);
            """
        )
        self.assertEqual((s.vars["r1"], s.vars["r2"]), ("OK", "OK"))
        self.assertEqual(await self.direct("GET", self.prefix + "q"), '"quoted"')
        self.assertEqual(await self.direct("GET", self.prefix + "pct"), "100%")

    # -- pipelining -------------------------------------------------------------------
    async def test_append_then_get_reply_in_order(self) -> None:
        """Appended commands are answered one ``getReply`` at a time, in the order they went."""
        s = await self.run_script(
            """
            redis.appendCommand(set K:x 5);
            set($e_append=$errno);
            redis.appendCommand(incr K:x);
            redis.appendCommand(lrange K:nolist 0 -1);
            redis.getReply($p1);
            redis.getReply(p2);
            redis.getReply($p3);
            set($e_got=$errno);
            redis.getReply($p4);
            set($e_none=$errno);
            set($s_none=$strerror);
            """
        )
        v = s.vars
        self.assertEqual((v["e_append"], v["p1"], v["p2"], v["e_got"]), ("", "OK", "6", ""))
        self.assertNotIn("p3", v)  # an empty array sets nothing, as in SEMS
        self.assertNotIn("p4", v)
        self.assertEqual((v["e_none"], v["s_none"]), ("result", "No result available"))

    async def test_exec_command_takes_the_oldest_reply(self) -> None:
        """After ``appendCommand``, ``execCommand`` gets the queued command's reply (hiredis order)."""
        s = await self.run_script(
            """
            redis.appendCommand(set K:o first);
            redis.execCommand(r_exec=get K:o);
            redis.getReply($r_next);
            """
        )
        self.assertEqual((s.vars["r_exec"], s.vars["r_next"]), ("OK", "first"))

    # -- errors -------------------------------------------------------------------
    async def test_server_error_sets_write_and_the_connection_stays(self) -> None:
        """A Redis error reply is ``$errno=write``; the variable stays unset; later commands work."""
        s = await self.run_script(
            """
            redis.execCommand(r1=set K:s text);
            redis.execCommand(r_bad=lpush K:s x);
            set($e_bad=$errno);
            set($s_bad=$strerror);
            redis.execCommand(r_typo=nosuchcommand);
            set($e_typo=$errno);
            redis.execCommand(r_after=get K:s);
            set($e_after=$errno);
            """
        )
        v = s.vars
        self.assertEqual(
            (v["e_bad"], v["s_bad"], v["e_typo"]), ("write", "REDIS write error", "write")
        )
        self.assertNotIn("r_bad", v)
        self.assertEqual((v["r_after"], v["e_after"]), ("text", ""))
        logs = "\n".join(s.record.logs)
        self.assertIn("WRONGTYPE", logs)

    async def test_error_inside_a_transaction_reply_is_write(self) -> None:
        """``EXEC`` whose reply holds an error element sets ``$errno=write``, as SEMS."""
        s = await self.run_script(
            """
            redis.execCommand(r0=set K:t text);
            redis.execCommand(r1=multi);
            redis.execCommand(r2=incr K:t);
            redis.execCommand(r3=exec);
            set($e3=$errno);
            """
        )
        self.assertEqual((s.vars["r1"], s.vars["r2"], s.vars["e3"]), ("OK", "QUEUED", "write"))

    async def test_commands_without_connect(self) -> None:
        """Without ``redis.connect`` every action reports ``connection``; nothing throws."""
        s = await self.run_script(
            """
            redis.execCommand(r=get K:a);
            set($e1=$errno);
            set($s1=$strerror);
            redis.appendCommand(get K:a);
            set($e2=$errno);
            redis.getReply(r);
            set($e3=$errno);
            redis.disconnect();
            set($e4=$errno);
            """,
            connect="",
        )
        v = s.vars
        self.assertEqual(
            (v["e1"], v["s1"], v["e2"], v["e3"], v["e4"]),
            (
                "connection",
                "No connection to redis database",
                "connection",
                "connection",
                "connection",
            ),
        )
        self.assertNotIn("r", v)

    async def test_empty_command_is_an_argument_error(self) -> None:
        """``redis.execCommand(r=$unset)`` sends nothing and sets ``$errno=arg``."""
        s = await self.run_script("redis.execCommand(r=$unset); set($e=$errno);")
        self.assertEqual(s.vars["e"], "arg")

    async def test_connect_urls(self) -> None:
        """Bad URLs are ``arg`` errors; an explicit URL beats ``$config.redis_db_url``."""
        bad = [
            "http://127.0.0.1",
            "redis://udp:127.0.0.1",
            "redis://tcp:;port=1",
            f"redis://tcp:127.0.0.1;port={PORT};bogus=1",
            "redis://tcp:127.0.0.1;port",
            "redis://tcp:127.0.0.1;connect_timeout=soon",
        ]
        body = "".join(
            f"set($u{i}={url}); redis.connect($u{i}); set($e{i}=$errno);\n"
            for i, url in enumerate(bad)
        )
        body += (
            f"redis.connect(redis://tcp:127.0.0.1;port={PORT};full_logging=true;use_transactions=true);"
            "set($e_ok=$errno); redis.execCommand(r=ping);"
        )
        h = self.harness(
            {"redis_db_url": "nonsense"},
            t=f"""
            import(mod_redis);
            initial state START;
            transition "go" START - startup / {{ {body} }} -> DONE;
            state DONE;
            """,
        )
        s = h.system("t")
        await self.settle(lambda: s.state == "DONE")
        self.assertEqual([s.vars[f"e{i}"] for i in range(len(bad))], ["arg"] * len(bad))
        self.assertEqual((s.vars["e_ok"], s.vars["r"]), ("", "PONG"))
        self.assertEqual(len([e for e in h.errors() if "redis.connect" in e]), len(bad))

    async def test_connect_from_config(self) -> None:
        """``redis.connect()`` uses ``$config.redis_db_url``."""
        s = await self.run_script("redis.execCommand(r=ping);")
        self.assertEqual((s.vars["e_connect"], s.vars["r"]), ("", "PONG"))

    async def test_nobody_listening(self) -> None:
        """A port where nobody listens: ``connection``, "Could not connect to redis DB"."""
        s = await self.run_script(
            "set($s=$strerror); redis.execCommand(r=ping); set($e2=$errno);",
            connect=f"redis.connect(redis://tcp:127.0.0.1;port={free_port(socket.SOCK_STREAM)});",
        )
        self.assertEqual(
            (s.vars["e_connect"], s.vars["s"], s.vars["e2"]),
            ("connection", "Could not connect to redis DB", "connection"),
        )
        self.assertEqual(len(modredis.connections(self.h.runtime).open), 0)

    async def test_failed_connect_keeps_the_old_connection(self) -> None:
        """A second ``redis.connect`` that fails leaves the working connection in place, as SEMS."""
        s = await self.run_script(
            f"""
            redis.connect(redis://tcp:127.0.0.1;port={free_port(socket.SOCK_STREAM)});
            set($e_second=$errno);
            redis.execCommand(r=ping);
            set($e_after=$errno);
            """
        )
        self.assertEqual(
            (s.vars["e_connect"], s.vars["e_second"], s.vars["r"], s.vars["e_after"]),
            ("", "connection", "PONG", ""),
        )
        self.assertEqual(len(modredis.connections(self.h.runtime).open), 1)

    async def test_reply_timeout_counts_as_a_lost_connection(self) -> None:
        """A reply slower than ``reply_timeout`` is ``connection``; the next command reconnects."""
        started = time.monotonic()
        s = await self.run_script(
            """
            redis.execCommand(r_block=blpop K:never 0);
            set($e_block=$errno);
            redis.execCommand(r_after=ping);
            set($e_after=$errno);
            """,
            connect=f"redis.connect(redis://tcp:127.0.0.1;port={PORT};reply_timeout=300);",
        )
        self.assertEqual(
            (s.vars["e_block"], s.vars["r_after"], s.vars["e_after"]), ("connection", "PONG", "")
        )
        self.assertNotIn("r_block", s.vars)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    # -- connections --------------------------------------------------------------
    async def test_sessions_have_their_own_connections(self) -> None:
        """Two sessions' queued commands never mix: each ``getReply`` answers its own session."""
        h = self.harness(
            t=f"""
            import(mod_redis);
            initial state START;
            transition "go" START - startup / {{
              redis.connect();
              redis.appendCommand(set {self.prefix}$(me) mine);
              redis.appendCommand(get {self.prefix}$(me));
            }} -> READY;
            state READY;
            transition "take" READY - event / {{
              redis.getReply($first);
              redis.getReply($second);
            }} -> DONE;
            state DONE;
            """
        )
        a, b = h.system("t"), h.system("t")
        a.vars["me"], b.vars["me"] = "a", "b"  # before the first event runs on the reactor
        await self.settle(lambda: a.state == b.state == "READY")
        b.event()
        a.event()
        await self.settle(lambda: a.state == b.state == "DONE")
        self.assertEqual((a.vars["first"], a.vars["second"]), ("OK", "mine"))
        self.assertEqual((b.vars["first"], b.vars["second"]), ("OK", "mine"))
        registry = modredis.connections(h.runtime)
        self.assertEqual(len(registry.open), 2)
        a.session.stop(False)
        a.session.hangup_cleanup()
        h.advance(0)
        self.assertEqual(len(registry.open), 1)  # the ended session's connection is closed
        await h.runtime.shutdown()
        self.assertEqual(len(registry.open), 0)

    async def test_disconnect_closes_and_forgets(self) -> None:
        """After ``redis.disconnect()`` commands report ``connection`` until the next connect."""
        s = await self.run_script(
            """
            redis.disconnect();
            set($e_disc=$errno);
            redis.execCommand(r1=ping);
            set($e1=$errno);
            redis.connect();
            redis.execCommand(r2=ping);
            """
        )
        v = s.vars
        self.assertEqual((v["e_disc"], v["e1"], v["r2"]), ("", "connection", "PONG"))
        self.assertNotIn("r1", v)
        self.assertEqual(len(modredis.connections(self.h.runtime).open), 1)


class UnixSocketTests(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        require_redis(None if os.path.exists(REDIS_SERVER) else "redis-server is not installed")
        self.server = PrivateRedis()
        self.server.start()
        self.addCleanup(self.server.cleanup)
        if not self.server.wait_up():
            require_redis("the private redis-server did not start")

    async def test_unix_socket_url(self) -> None:
        """``redis://unix:/path/to/socket`` connects over the Unix socket."""
        directory = write_scripts(
            self,
            u=f"""
            import(mod_redis);
            initial state START;
            transition "go" START - startup / {{
              redis.connect(redis://unix:{self.server.unix});
              set($e=$errno);
              redis.execCommand(r=ping);
            }} -> DONE;
            state DONE;
            """,
        )
        h = Harness()
        h.load("main", {"diag_path": directory, "load_diags": "u"})
        self.addCleanup(modredis.shutdown, h.runtime)
        s = h.system("u")
        deadline = time.monotonic() + 20
        while s.state != "DONE" and time.monotonic() < deadline:
            await task.deferLater(reactor, 0.01, lambda: None)
        self.assertEqual((s.state, s.vars["e"], s.vars["r"]), ("DONE", "", "PONG"))


class ParseTests(unittest.TestCase):
    def test_url_defaults_and_params(self) -> None:
        """SEMS's URL form: host, port, connect_timeout in ms; donkey's reply_timeout too."""
        self.assertEqual(modredis.parse_url("redis://tcp:db1"), modredis.Target("db1"))
        self.assertEqual(
            modredis.parse_url(
                "redis://tcp:db1;port=7000;connect_timeout=1500;reply_timeout=250;full_logging=true"
            ),
            modredis.Target("db1", 7000, False, 1.5, 0.25, True),
        )
        self.assertEqual(
            modredis.parse_url("redis://unix:/run/redis.sock"),
            modredis.Target("/run/redis.sock", unix=True),
        )

    def test_bad_urls_say_why(self) -> None:
        """Each malformed URL is refused with SEMS's reason."""
        for url, why in [
            ("redis://x", "must start with redis://"),
            ("mysql://tcp:host", "must start with redis://"),
            ("redis://ftp:host", "must start with unix or tcp protocol"),
            ("redis://tcp:;port=1", "host must be non-empty"),
            ("redis://tcp:h;port", "parameter 'port' must be param=value"),
            ("redis://tcp:h;colour=red", "unknown parameter 'colour'"),
        ]:
            with self.assertRaises(ValueError) as cm:
                modredis.parse_url(url)
            self.assertIn(why, str(cm.exception), url)

    def test_command_words(self) -> None:
        """Words split at blanks only; runs of blanks are one; ``%%`` is ``%``."""
        self.assertEqual(
            modredis.split_command('  set  k "a b"  50%% '), ["set", "k", '"a', 'b"', "50%"]
        )
