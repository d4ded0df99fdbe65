"""mod_mysql against a real MariaDB (127.0.0.1:3306, root) and against SQLite.

Every action and condition runs in a DSM script on the harness; the DB work
happens in pool threads on the real reactor, so tests wait (polling) until
the script reached its final state.  Each MariaDB test gets its own database,
dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import uuid

import pymysql
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from donkey.dsm.errors import CompileError
from donkey.dsm.harness import Harness
from donkey.mods import mysql as modmysql
from test.dsm.helpers import write_scripts
from test.util import service_missing, wait_until

MARIADB = dict(host="127.0.0.1", port=3306, user="root", password="")

HOSTILE = ["35 OR 1=1", "x'OR'1'='1", "x'; DROP TABLE callees; --"]

# A tiny valid WAV (8 kHz mono 16 bit, 10 samples of silence).
WAV = (
    b"RIFF"
    + (36 + 20).to_bytes(4, "little")
    + b"WAVEfmt "
    + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little")
    + (1).to_bytes(2, "little")
    + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little")
    + (2).to_bytes(2, "little")
    + (16).to_bytes(2, "little")
    + b"data"
    + (20).to_bytes(4, "little")
    + b"\0" * 20
)


def mariadb_unreachable() -> str | None:
    """None if MariaDB answers on 127.0.0.1:3306, else why not.

    The tests never start a server themselves (``.ci/run`` does): without
    one they skip, and under ``CI=true`` they fail (:func:`test.util.service_missing`).
    """
    try:
        pymysql.connect(connect_timeout=2, **MARIADB).close()
        return None
    except Exception as e:  # noqa: BLE001
        return f"MariaDB on 127.0.0.1:3306 is not reachable: {e}"


SCHEMA = [
    "CREATE TABLE callees (id INTEGER PRIMARY KEY {auto}, caller VARCHAR(128) NOT NULL, "
    "callee VARCHAR(128) NOT NULL, pin VARCHAR(32) NOT NULL)",
    "CREATE TABLE audio (id INTEGER PRIMARY KEY, name VARCHAR(64), data {blob})",
    "INSERT INTO callees (caller, callee, pin) VALUES ('35', 'john', '12345')",
    "INSERT INTO callees (caller, callee, pin) VALUES ('35', 'anna', '54321')",
]


class _Scenarios:
    """The tests, run once per backend (see the two classes at the end)."""

    timeout = 30
    dialect = ""

    # -- backend hooks -------------------------------------------------------
    def make_database(self) -> str:
        """Create the schema; return the db_url."""
        raise NotImplementedError

    def sql(self, statement: str, params: tuple = ()) -> list:
        """Run SQL directly (not through the module) and return rows."""
        raise NotImplementedError

    def setUp(self):
        self.url = self.make_database()
        self.runtimes: list = []
        self.addCleanup(self._close_pools)

    def _close_pools(self):
        for runtime in self.runtimes:
            modmysql.shutdown(runtime)

    # -- running scripts -----------------------------------------------------
    def harness(self, conf: dict | None = None, **scripts: str) -> Harness:
        directory = write_scripts(self, **scripts)
        h = Harness()
        bundle = {"diag_path": directory, "load_diags": ",".join(scripts), "db_url": self.url}
        bundle.update(conf or {})
        h.load("main", bundle)
        self.runtimes.append(h.runtime)
        return h

    async def settle(self, predicate, what: str = "the script to finish"):
        await wait_until(predicate, 15, what, interval=0.01)

    async def run_script(
        self,
        body: str,
        *,
        call: bool = False,
        user: str = "35",
        conf: dict | None = None,
        extra: str = "",
        variables: dict | None = None,
        quiet: bool = True,
    ):
        """Run ``body`` as the actions of one transition; return the session when DONE."""
        event = "sessionStart" if call or variables else "startup"
        h = self.harness(
            conf,
            t=f"""
            import(mod_mysql);
            initial state START;
            transition "go" START - {event} / {{
            {body}
            }} -> DONE;
            state DONE;
            state FAILED;
            transition "exception" START - exception / {{
              set($ex_type=#type);
              set($ex_text=#text);
            }} -> FAILED;
            {extra}
            """,
        )
        if call or variables:
            s = h.call("t", user=user, variables=variables)
        else:
            s = h.system("t")
        await self.settle(lambda: s.state in ("DONE", "FAILED") or s.ended)
        if quiet:
            self.assertEqual(h.errors(), [])
        return s

    # -- the seed's flow -------------------------------------------------------
    async def test_seed_flow_connect_query_get_result(self):
        """The quizconnect tutorial's pattern: connect, query on @user, repost, loop getResult."""
        h = self.harness(
            t="""
            import(mod_mysql);
            initial state START;
            transition "go" START - sessionStart / {
              mysql.connect();
              throwOnError();
              set($query_key=@user);
              mysql.query(select callee, pin from callees where caller=$query_key order by id);
              repost();
            } -> RUN;
            transition "db error" START - exception; test(#type==connection) / set($failed=1) -> END;
            state RUN;
            transition "query failed" RUN - test($errno!="") -> END;
            transition "no results" RUN - test($db.rows==0) -> END;
            transition "results" RUN - test($db.rows!=0) / set($i=0) -> LOOP;
            state LOOP enter { repost(); };
            transition "one more" LOOP - test($i<$db.rows) / {
              mysql.getResult($i);
              sets($var_name=got[$(i)]);
              sets($value=$(callee):$(pin));
              setVar($var_name=$value);
              inc(i);
            } -> LOOP;
            transition "done" LOOP - test($i==$db.rows) -> DONE;
            state DONE;
            state END;
            """
        )
        s = h.call("t", user="35")
        await self.settle(lambda: s.state in ("DONE", "END"))
        self.assertEqual(s.state, "DONE")
        self.assertEqual(s.vars["db.rows"], "2")
        self.assertEqual((s.vars["got[0]"], s.vars["got[1]"]), ("john:12345", "anna:54321"))
        self.assertEqual(s.vars["errno"], "")

    async def test_connect_failure_sets_errno_and_throw_on_error_gives_connection(self):
        """A failed mysql.connect sets $errno=connection and $db.ereason; throwOnError then throws 'connection'."""
        s = await self.run_script(f"""
              mysql.connect({self.bad_url()});
              set($e1=$errno);
              set($reason=$db.ereason);
              throwOnError();
              set($not_reached=1);
            """)
        self.assertEqual(s.state, "FAILED")
        self.assertEqual(s.vars["e1"], "connection")
        self.assertEqual(s.vars["ex_type"], "connection")
        self.assertNotEqual(s.vars["reason"], "")
        self.assertNotIn("not_reached", s.vars)
        self.assertFalse(s.vars.get("connected"))

    async def test_connect_recovers_after_failure(self):
        """After a failed connect, mysql.connect() to the configured database succeeds and connected() is true."""
        s = await self.run_script(f"""
              mysql.connect({self.bad_url()});
              set($e1=$errno);
              if mysql.connected() {{ set($c1=yes); }} else {{ set($c1=no); }}
              mysql.connect();
              set($e2=$errno);
              if mysql.connected() {{ set($c2=yes); }} else {{ set($c2=no); }}
              mysql.query(select count(*) as n from callees);
              mysql.getResult();
            """)
        self.assertEqual((s.vars["e1"], s.vars["c1"]), ("connection", "no"))
        self.assertEqual((s.vars["e2"], s.vars["c2"]), ("", "yes"))
        self.assertEqual(s.vars["n"], "2")

    async def test_bad_url_is_an_arg_error(self):
        """A db_url of an unsupported kind sets $errno=arg."""
        s = await self.run_script("mysql.connect(postgres://x/y); set($e=$errno);", quiet=False)
        self.assertEqual(s.vars["e"], "arg")

    async def test_default_url_from_config(self):
        """mysql.connect() without a URL uses the bundle's db_url."""
        s = await self.run_script("mysql.connect(); set($e=$errno);")
        self.assertEqual(s.vars["e"], "")
        self.assertIsInstance(s.session.objects[modmysql.CONNECTION], modmysql.Handle)

    async def test_actions_without_connection_give_connection_errno(self):
        """Every query action before connect sets $errno=connection."""
        s = await self.run_script("""
              mysql.query(select 1); set($e1=$errno);
              mysql.execute(delete from callees); set($e2=$errno);
              mysql.queryGetResult(select 1); set($e3=$errno);
              mysql.escape($x=abc); set($e4=$errno);
              mysql.getClientVersion(); set($e5=$errno);
              mysql.disconnect(); set($e6=$errno);
              if mysql.connected() { set($c=yes); } else { set($c=no); }
            """)
        for i in range(1, 7):
            self.assertEqual(s.vars[f"e{i}"], "connection", f"e{i}")
        self.assertEqual(s.vars["c"], "no")
        self.assertEqual(self.sql("select count(*) from callees")[0][0], 2)

    async def test_execute_rows_insert_id_info(self):
        """mysql.execute reports affected rows and the insert id, and clears $errno."""
        s = await self.run_script(
            """
              mysql.connect();
              set($c=36);
              mysql.execute(insert into callees (caller, callee, pin) values ($c, '$name', '1'));
              set($rows1=$db.rows); set($id1=$db.insert_id); set($e1=$errno);
              mysql.execute(update callees set pin='0' where caller=35);
              set($rows2=$db.rows); set($info=$db.info);
              mysql.execute(select * from callees);
              set($rows3=$db.rows);
            """,
            variables={"name": "O'Brien"},
        )
        self.assertEqual((s.vars["rows1"], s.vars["id1"], s.vars["e1"]), ("1", "3", ""))
        self.assertEqual(s.vars["rows2"], "2")
        self.assertEqual(s.vars["info"], "")
        self.assertEqual(s.vars["rows3"], "0")
        self.assertEqual(self.sql("select callee from callees where id=3")[0][0], "O'Brien")

    async def test_query_error(self):
        """A bad query sets $errno=query with the server's reason; the connection stays up."""
        s = await self.run_script("""
              mysql.connect();
              mysql.query(select nosuchcolumn from callees);
              set($e1=$errno); set($reason=$db.ereason);
              if mysql.connected() { set($c=yes); }
              mysql.execute(insert into nosuchtable values (1));
              set($e2=$errno);
            """)
        self.assertEqual((s.vars["e1"], s.vars["e2"]), ("query", "query"))
        self.assertIn("nosuchcolumn", s.vars["reason"])
        self.assertEqual(s.vars["c"], "yes")

    async def test_query_get_result(self):
        """queryGetResult puts the chosen row's columns into variables and the row count into $db.rows."""
        s = await self.run_script("""
              mysql.connect();
              mysql.queryGetResult("select callee, pin from callees where caller=35 order by id", 1);
              set($e1=$errno); set($first=$callee); set($rows=$db.rows);
              mysql.queryGetResult(select callee as who from callees order by id);
              set($e2=$errno);
              mysql.queryGetResult("select callee from callees", 5);
              set($e3=$errno);
              mysql.queryGetResult("select callee from callees", x);
              set($e4=$errno);
              if mysql.hasResult() { set($has=yes); } else { set($has=no); }
            """)
        self.assertEqual(
            (s.vars["e1"], s.vars["first"], s.vars["pin"], s.vars["rows"]),
            ("", "anna", "54321", "2"),
        )
        self.assertEqual((s.vars["e2"], s.vars["who"]), ("", "john"))
        self.assertEqual(s.vars["e3"], "result")
        self.assertEqual(s.vars["e4"], "arg")
        self.assertEqual(s.vars["has"], "no")  # queryGetResult keeps no result (as SEMS)

    async def test_get_result_forms_and_errors(self):
        """getResult reads a given row (or the first) into variables; without a result or past the end it sets $errno."""
        s = await self.run_script("""
              mysql.connect();
              mysql.getResult(); set($e0=$errno);
              if mysql.hasResult() { set($has0=yes); } else { set($has0=no); }
              mysql.query(select id, callee, pin from callees order by id);
              if mysql.hasResult() { set($has1=yes); }
              mysql.getResult();
              set($r0=$callee);
              mysql.getResult(1, pin);
              set($r1_callee=$callee); set($r1_pin=$pin);
              mysql.getResult(2); set($e1=$errno);
              mysql.getResult(0, nosuch); set($e2=$errno);
              mysql.getResult(abc); set($e3=$errno);
              mysql.query(select id from callees where caller=99);
              set($rows=$db.rows);
              if mysql.hasResult() { set($has2=yes); } else { set($has2=no); }
            """)
        self.assertEqual((s.vars["e0"], s.vars["has0"], s.vars["has1"]), ("result", "no", "yes"))
        self.assertEqual(s.vars["r0"], "john")
        self.assertEqual((s.vars["r1_callee"], s.vars["r1_pin"]), ("john", "54321"))
        self.assertEqual((s.vars["e1"], s.vars["e2"], s.vars["e3"]), ("result", "result", "arg"))
        self.assertEqual((s.vars["rows"], s.vars["has2"]), ("0", "no"))

    async def test_null_and_numbers_become_strings(self):
        """NULL columns become empty strings and numbers become their text."""
        s = await self.run_script("""
              mysql.connect();
              mysql.execute(insert into audio (id, name, data) values (1, NULL, NULL));
              mysql.queryGetResult("select id, name, 2*21 as answer from audio where id=1");
            """)
        self.assertEqual((s.vars["id"], s.vars["name"], s.vars["answer"]), ("1", "", "42"))

    async def test_save_and_use_result(self):
        """A saved result can be used again after other queries."""
        s = await self.run_script("""
              mysql.connect();
              mysql.query(select callee from callees where callee='anna');
              mysql.saveResult(anna_res);
              mysql.query(select callee from callees where callee='john');
              mysql.getResult(); set($now=$callee);
              mysql.useResult(anna_res);
              mysql.getResult(); set($saved=$callee);
            """)
        self.assertEqual((s.vars["now"], s.vars["saved"]), ("john", "anna"))
        self.assertIsInstance(s.session.objects["anna_res"], modmysql.DBResult)

    async def test_resolve_query_params(self):
        """resolveQueryParams shows the statement with values quoted safely and escaped $ left alone."""
        s = await self.run_script(
            """
              set($k=35 OR 1=1);
              set($n=7);
              mysql.resolveQueryParams(select * from t where a=$k and b='$q' and c=$n and d=\\$x limit $n);
            """,
            variables={"q": "it's"},
        )
        self.assertEqual(
            s.vars["db.qstr"],
            "select * from t where a='35 OR 1=1' and b='it\\'s' and c='7' and d=$x limit 7",
        )

    async def test_client_version(self):
        """getClientVersion sets $db.client_version, or the named variable."""
        s = await self.run_script("""
              mysql.connect();
              mysql.getClientVersion();
              mysql.getClientVersion($v);
            """)
        self.assertNotEqual(s.vars["db.client_version"], "")
        self.assertEqual(s.vars["v"], s.vars["db.client_version"])

    async def test_escape(self):
        """mysql.escape quotes a value for the database in use."""
        s = await self.run_script(
            """
              mysql.connect();
              mysql.escape($dst=$src);
              mysql.escape(plain=abc);
            """,
            variables={"src": "x'y"},
        )
        self.assertEqual(s.vars["dst"], "x\\'y" if self.dialect == "mysql" else "x''y")
        self.assertEqual(s.vars["plain"], "abc")

    async def test_disconnect(self):
        """After mysql.disconnect the call is not connected and queries set $errno=connection."""
        s = await self.run_script("""
              mysql.connect();
              if mysql.connected() { set($c1=yes); }
              mysql.disconnect(); set($e=$errno);
              if mysql.connected() { set($c2=yes); } else { set($c2=no); }
              mysql.query(select 1); set($e2=$errno);
            """)
        self.assertEqual(
            (s.vars["c1"], s.vars["e"], s.vars["c2"], s.vars["e2"]), ("yes", "", "no", "connection")
        )

    # -- files and audio ---------------------------------------------------------
    def _store_audio(self):
        ph = "%s" if self.dialect == "mysql" else "?"
        self.sql(f"insert into audio (id, name, data) values (1, 'hello', {ph})", (WAV,))

    async def test_play_db_audio_variants(self):
        """playDBAudio and playDBAudioFront/Looped play WAV data stored in the database."""
        self._store_audio()
        h = self.harness(
            t="""
            import(mod_mysql);
            initial state START;
            transition "go" START - sessionStart / {
              mysql.connect();
              set($audio_id=1);
              mysql.playDBAudio("select data from audio where id='$audio_id'", hello.wav);
              set($e1=$errno);
              mysql.playDBAudioFront(select data from audio where id=$audio_id, x.wav);
              mysql.playDBAudioLooped(select data from audio where id=$audio_id, x.wav);
              mysql.playDBAudio(select data from audio where id=99, x.wav);
              set($e2=$errno);
            } -> DONE;
            state DONE;
            transition "bye" DONE - key / stop(false) -> END;
            state END;
            """
        )
        s = h.call("t", user="35")
        await self.settle(lambda: s.state == "DONE")
        self.assertEqual((s.vars["e1"], s.vars["e2"]), ("", "result"))
        calls = [c for c in s.record.media_calls if c[0] == "play_file"]
        self.assertEqual(
            [(c[2], c[3]) for c in calls], [(False, False), (False, True), (True, False)]
        )
        paths = [c[1] for c in calls]
        self.assertTrue(all(p.endswith(".wav") for p in paths))
        for p in paths:
            with open(p, "rb") as f:
                self.assertEqual(f.read(), WAV)
        s.key(1)
        self.assertTrue(s.ended)
        self.assertFalse(any(os.path.exists(p) for p in paths))

    async def test_play_db_audio_in_system_dsm_is_core_exception(self):
        """playDBAudio in a system DSM throws a 'core' exception."""
        self._store_audio()
        s = await self.run_script("""
              mysql.connect();
              mysql.playDBAudio(select data from audio where id=1, x.wav);
            """)
        self.assertEqual(s.vars["ex_type"], "core")

    async def test_get_file_and_put_file(self):
        """getFileFromDB and putFileToDB move binary file contents byte for byte."""
        self._store_audio()
        out = os.path.abspath(self.mktemp())
        src = os.path.abspath(self.mktemp())
        with open(src, "wb") as f:
            f.write(b"\x00binary'\"\\data\xff")
        s = await self.run_script(
            f"""
              mysql.connect();
              mysql.getFileFromDB(select data from audio where id=1, {out});
              set($e1=$errno);
              mysql.getFileFromDB(select data from audio where id=1, /nonexistent/dir/f);
              set($e2=$errno);
              mysql.getFileFromDB(select data from audio where id=42, {out}.x);
              set($e3=$errno);
              mysql.putFileToDB("insert into audio (id, name, data) values (2, '$name', __FILE__)", {src});
              set($e4=$errno); set($rows=$db.rows);
              mysql.putFileToDB("insert into audio (id, data) values (3, '__FILE__')", {src});
              set($e5=$errno);
              mysql.putFileToDB(insert into audio (id) values (4), {src});
              set($e6=$errno);
              mysql.putFileToDB("insert into audio (id, data) values (5, __FILE__)", /nonexistent);
              set($e7=$errno);
              mysql.getFileFromDB(select data from audio where id=2, {out}.2);
            """,
            variables={"name": "it's"},
        )
        self.assertEqual(
            [s.vars[f"e{i}"] for i in range(1, 8)], ["", "file", "result", "", "", "arg", "file"]
        )
        self.assertEqual(s.vars["rows"], "1")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), WAV)
        with open(src, "rb") as f:
            data = f.read()
        with open(out + ".2", "rb") as f:
            self.assertEqual(f.read(), data)
        rows = self.sql("select id, name, data from audio where id in (2, 3) order by id")
        self.assertEqual(
            [(r[0], r[1], bytes(r[2])) for r in rows], [(2, "it's", data), (3, None, data)]
        )

    # -- injection ---------------------------------------------------------------
    async def test_hostile_values_cannot_change_the_statement(self):
        """SQL injection attempts in a caller's user part select nothing and change no table."""
        for value in HOSTILE:
            s = await self.run_script(
                """
                  mysql.connect();
                  set($query_key=@user);
                  mysql.query(select callee from callees where caller=$query_key);
                  set($bare=$db.rows); set($e1=$errno);
                  mysql.query(select callee from callees where caller='$query_key');
                  set($single=$db.rows); set($e2=$errno);
                  mysql.query(select callee from callees where caller="$query_key");
                  set($double=$db.rows); set($e3=$errno);
                  mysql.query(select callee from callees where caller=@user);
                  set($select=$db.rows); set($e4=$errno);
                  mysql.query(select callee from callees where caller like '%$query_key%');
                  set($like=$db.rows); set($e5=$errno);
                  mysql.execute(delete from callees where caller=$query_key);
                  set($deleted=$db.rows); set($e6=$errno);
                  mysql.execute(update callees set pin='$query_key' where caller='$query_key');
                  set($updated=$db.rows); set($e7=$errno);
                """,
                call=True,
                user=value,
            )
            for name in ("bare", "single", "double", "select", "like", "deleted", "updated"):
                self.assertEqual(s.vars[name], "0", f"{name} with {value!r}")
            for i in range(1, 8):
                self.assertEqual(s.vars[f"e{i}"], "", f"e{i} with {value!r}")
            self.assertEqual(self.sql("select count(*) from callees")[0][0], 2)
            self.assertEqual(
                sorted(r[0] for r in self.sql("select pin from callees")), ["12345", "54321"]
            )

    async def test_hostile_value_is_stored_verbatim(self):
        """An injection attempt stored with execute comes back verbatim."""
        s = await self.run_script(
            """
              mysql.connect();
              mysql.execute(insert into callees (caller, callee, pin) values ($v, "$v", 'p'));
              mysql.queryGetResult("select caller, callee from callees where caller=$v");
              set($rows=$db.rows);
            """,
            variables={"v": "x'; DROP TABLE callees; --"},
        )
        self.assertEqual(s.vars["rows"], "1")
        self.assertEqual(s.vars["caller"], "x'; DROP TABLE callees; --")
        self.assertEqual(s.vars["callee"], "x'; DROP TABLE callees; --")

    async def test_integer_values_work_where_sql_needs_numbers(self):
        """Variables holding numbers work in LIMIT and OFFSET."""
        s = await self.run_script("""
              mysql.connect();
              set($n=1);
              set($off=1);
              mysql.query(select callee from callees order by id limit $n offset $off);
              mysql.getResult();
              set($e=$errno);
            """)
        self.assertEqual((s.vars["e"], s.vars["callee"], s.vars["db.rows"]), ("", "anna", "1"))

    async def test_event_params_in_queries(self):
        """#event parameters can be used as query values."""
        h = self.harness(
            t="""
            import(mod_mysql);
            initial state START;
            transition "c" START - startup / mysql.connect() -> WAIT;
            state WAIT;
            transition "k" WAIT - event / {
              mysql.queryGetResult(select pin from callees where callee=#who);
            } -> DONE;
            state DONE;
            """
        )
        s = h.system("t")
        await self.settle(lambda: s.state == "WAIT")
        s.event(who="anna")
        await self.settle(lambda: s.state == "DONE")
        self.assertEqual(s.vars["pin"], "54321")

    def test_reference_in_identifier_is_a_compile_error(self):
        """A variable inside a quoted identifier makes the script fail to load."""
        with self.assertRaises(CompileError):
            self.harness(
                t="""
                import(mod_mysql);
                initial state START;
                transition "go" START - startup / mysql.query(select * from `$table`) -> START;
                """
            )

    async def test_sessions_share_one_pool(self):
        """Twenty calls querying at once all get their answer through one shared connection pool."""
        h = self.harness(
            t="""
            import(mod_mysql);
            initial state START;
            transition "go" START - startup / {
              mysql.connect();
              mysql.queryGetResult(select count(*) as n from callees);
            } -> DONE;
            state DONE;
            """
        )
        sessions = [h.system("t") for _ in range(20)]
        await self.settle(lambda: all(s.state == "DONE" for s in sessions))
        self.assertEqual({s.vars["n"] for s in sessions}, {"2"})
        self.assertEqual(len(h.runtime.module_state("mod_mysql.pools", None).by_key), 1)


class MariaDBTests(_Scenarios, unittest.TestCase):
    dialect = "mysql"

    def make_database(self) -> str:
        why = mariadb_unreachable()
        if why:
            service_missing(why)
        self.dbname = f"donkey_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        con = pymysql.connect(autocommit=True, **MARIADB)
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{self.dbname}`")
        con.close()
        self.addCleanup(self._drop)
        for statement in SCHEMA:
            self.sql(statement.format(auto="AUTO_INCREMENT", blob="LONGBLOB"))
        return f"mysql://root@127.0.0.1:3306/{self.dbname}"

    def _drop(self):
        con = pymysql.connect(autocommit=True, **MARIADB)
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{self.dbname}`")
        con.close()

    def sql(self, statement, params=()):
        con = pymysql.connect(database=self.dbname, autocommit=True, **MARIADB)
        try:
            with con.cursor() as cur:
                cur.execute(statement, params or None)
                return list(cur.fetchall())
        finally:
            con.close()

    def bad_url(self):
        return f"mysql://root@127.0.0.1:1/{self.dbname}"

    def _our_connections(self) -> int:
        con = pymysql.connect(autocommit=True, **MARIADB)
        try:
            with con.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM information_schema.processlist"
                    " WHERE db=%s AND id<>CONNECTION_ID()",
                    (self.dbname,),
                )
                return int(cur.fetchone()[0])
        finally:
            con.close()

    async def _killed_connections_gone(self) -> None:
        async def gone() -> bool:
            return await deferToThread(self._our_connections) == 0

        await wait_until(gone, 10, "the killed connections to leave the processlist")

    def _kill_our_connections(self) -> int:
        con = pymysql.connect(autocommit=True, **MARIADB)
        killed = 0
        with con.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db=%s AND id<>CONNECTION_ID()",
                (self.dbname,),
            )
            for (cid,) in cur.fetchall():
                cur.execute(f"KILL {int(cid)}")
                killed += 1
        con.close()
        return killed

    async def test_lost_connection_gives_connection_error_then_recovers(self):
        """KILL the pool's connection server-side between two queries (no server restart).

        One pooled connection, so the query after the KILL must use the dead one.
        """
        h = self.harness(
            {"mysql_pool_size": "1"},
            t="""
            import(mod_mysql);
            initial state START;
            transition "go" START - startup / {
              mysql.connect();
              mysql.query(select count(*) as n from callees);
              set($e0=$errno);
            } -> UP;
            state UP;
            transition "after kill" UP - event / {
              mysql.query(select count(*) as n from callees);
              set($e1=$errno); set($reason=$db.ereason);
              if mysql.connected() { set($c1=yes); } else { set($c1=no); }
              mysql.query(select count(*) as n from callees);
              set($e2=$errno);
              if mysql.connected() { set($c2=yes); } else { set($c2=no); }
              mysql.getResult();
            } -> DONE;
            state DONE;
            """,
        )
        s = h.system("t")
        await self.settle(lambda: s.state == "UP")
        self.assertEqual(s.vars["e0"], "")
        self.assertGreaterEqual(self._kill_our_connections(), 1)
        await self._killed_connections_gone()
        s.event(go="1")
        await self.settle(lambda: s.state == "DONE")
        self.assertEqual((s.vars["e1"], s.vars["c1"]), ("connection", "no"), s.vars.get("reason"))
        self.assertEqual((s.vars["e2"], s.vars["c2"], s.vars["n"]), ("", "yes", "2"))
        self.assertEqual(h.errors(), [])

    async def test_other_pooled_connections_recheck_after_a_loss(self):
        """After one lost connection, the other threads' stale connections reconnect quietly."""
        h = self.harness(
            {"mysql_pool_size": "4"},
            t="""
            import(mod_mysql);
            initial state START;
            transition "go" START - startup / {
              mysql.connect();
              mysql.query(select sleep(0.2));
            } -> UP;
            state UP;
            transition "again" UP - event / {
              mysql.query(select count(*) as n from callees);
              set($e=$errno);
            } -> DONE;
            state DONE;
            """,
        )
        sessions = [h.system("t") for _ in range(4)]  # four threads, four connections
        await self.settle(lambda: all(s.state == "UP" for s in sessions))
        self._kill_our_connections()
        await self._killed_connections_gone()
        first, rest = sessions[0], sessions[1:]
        first.event(go="1")
        await self.settle(lambda: first.state == "DONE")
        for s in rest:
            s.event(go="1")
        await self.settle(lambda: all(s.state == "DONE" for s in rest))
        errs = [s.vars["e"] for s in sessions]
        self.assertEqual(errs[1:], ["", "", ""], errs)


class SQLiteTests(_Scenarios, unittest.TestCase):
    dialect = "sqlite"

    def make_database(self) -> str:
        self.path = os.path.abspath(self.mktemp()) + ".db"
        for statement in SCHEMA:
            self.sql(statement.format(auto="AUTOINCREMENT", blob="BLOB"))
        return f"sqlite://{self.path}"

    def sql(self, statement, params=()):
        con = sqlite3.connect(self.path)
        try:
            rows = list(con.execute(statement, params))
            con.commit()
            return rows
        finally:
            con.close()

    def bad_url(self):
        return "sqlite:///nonexistent/dir/x.db"


class UnitTests(unittest.TestCase):
    def test_parse_url(self):
        """db_url strings parse into kind, user, password (percent-decoded), host, port and database."""
        t = modmysql.parse_url("mysql://user:p%40ss@db.example:3307/quiz")
        self.assertEqual(
            (t.kind, t.user, t.password, t.host, t.port, t.database),
            ("mysql", "user", "p@ss", "db.example", 3307, "quiz"),
        )
        t = modmysql.parse_url("mysql://root@localhost/x")
        self.assertEqual((t.user, t.password, t.host, t.port), ("root", "", "localhost", 3306))
        self.assertEqual(modmysql.parse_url("sqlite:///var/x.db").path, "/var/x.db")
        self.assertEqual(modmysql.parse_url("sqlite://:memory:").path, ":memory:")
        for bad in ("", "mysql://", "http://x/y"):
            self.assertRaises(ValueError, modmysql.parse_url, bad)

    def test_render_binds_every_reference(self):
        """Every $var and @param reference in a query becomes a bound parameter, never pasted text."""

        class S:
            vars = {"k": "35 OR 1=1", "n": "5", "z": "007"}

            def resolve(self, text, event):
                return self.vars.get(text[1:], "") if text[0] == "$" else "USER"

        t = modmysql.parse_query(
            "select 10 % 3, @@identity, @v from t where a=$k and b='x$k' and c=\"$k\" "
            "and d=$n and e=$z and f=@user and g='lit' and h=\\$k"
        )
        sql, params = modmysql.render(t, S(), None, "mysql")
        self.assertEqual(
            sql,
            "select 10 %% 3, @@identity, @v from t where a=%s and b=%s and "
            "c=%s and d=%s and e=%s and f=%s and g='lit' and h=$k",
        )
        self.assertEqual(params, ["35 OR 1=1", "x35 OR 1=1", "35 OR 1=1", "5", "007", "USER"])
        sql, _ = modmysql.render(t, S(), None, "sqlite")
        self.assertIn("a=? and b=? and c=? and d=?", sql)
        t = modmysql.parse_query("select 1 from t where a=$n limit $n offset $n")
        self.assertEqual(modmysql.render(t, S(), None, "mysql")[1], ["5", 5, 5])
        t = modmysql.parse_query("select 1 from t limit $n, $n")
        self.assertEqual(modmysql.render(t, S(), None, "mysql")[1], [5, 5])
        t = modmysql.parse_query("select $n-1")
        self.assertEqual(modmysql.render(t, S(), None, "mysql"), ("select %s-1", ["5"]))
        t = modmysql.parse_query("select a-$n, -$n from t limit $k")
        self.assertEqual(
            modmysql.render(t, S(), None, "mysql"),
            ("select a-%s, -%s from t limit %s", ["5", "5", "35 OR 1=1"]),
        )

    def test_sqlite_gets_mysql_string_semantics(self):
        """MySQL string quoting ("..." and \') is translated for SQLite."""
        t = modmysql.parse_query("insert into t values (\"a\", 'b\\'c', 'd')")
        sql, params = modmysql.render(t, None, None, "sqlite")
        self.assertEqual((sql, params), ("insert into t values (?, ?, 'd')", ["a", "b'c"]))

    def test_unterminated_literal(self):
        """A query with an unterminated string literal is refused."""
        self.assertRaises(ValueError, modmysql.parse_query, "select 'abc")
