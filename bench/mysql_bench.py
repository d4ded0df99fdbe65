#!/usr/bin/env python3
"""
mod_mysql under load: N concurrent DSM sessions, each looping
``mysql.query`` + ``mysql.getResult`` against MariaDB, on the real reactor.

Prints queries per second and the reactor's longest stall, measured by a
10 ms LoopingCall that records how late it runs (a blocking DB call would
show up here as a stall as long as the query).

Needs MariaDB on 127.0.0.1:3306 (root, no password); creates a scratch
database and drops it afterwards.

    python bench/mysql_bench.py [--sessions 200] [--queries 50] [--pool-size 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SCRIPT = """
import(mod_mysql);
initial state START;
transition "go" START - startup / {
  mysql.connect();
  throwOnError();
  set($query_key=35);
  for ($i in range(0, $config.bench_queries)) {
    mysql.query(select callee, pin from callees where caller=$query_key order by id);
    throwOnError();
    mysql.getResult(1);
    throwOnError();
  }
  set($done=1);
  stop(false);
} -> DONE;
transition "failed" START - exception / {
  set($failed=#type);
  stop(false);
} -> DONE;
state DONE;
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--queries", type=int, default=50, help="queries per session")
    parser.add_argument("--pool-size", type=int, default=4, help="DB threads/connections")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="sys.setswitchinterval() in seconds (0: leave Python's 5 ms)",
    )
    opts = parser.parse_args()
    if opts.switch_interval:
        sys.setswitchinterval(opts.switch_interval)

    import pymysql
    from twisted.internet import reactor, task

    from donkey.dsm.runtime import Runtime
    from donkey.mods import mysql as modmysql

    dbname = f"donkey_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=opts.host, port=opts.port, user="root", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{dbname}`")
        cur.execute(
            f"CREATE TABLE `{dbname}`.callees (id INT AUTO_INCREMENT PRIMARY KEY, "
            "caller VARCHAR(128), callee VARCHAR(128), pin VARCHAR(32), KEY (caller))"
        )
        cur.execute(
            f"INSERT INTO `{dbname}`.callees (caller, callee, pin) VALUES "
            "('35','john','12345'),('35','anna','54321'),('36','x','1')"
        )

    directory = tempfile.mkdtemp(prefix="mysql-bench-")
    with open(os.path.join(directory, "bench.dsm"), "w") as f:
        f.write(SCRIPT)

    runtime = Runtime(reactor, log_observer=lambda event: None)
    runtime.load_bundle(
        "main",
        {
            "diag_path": directory,
            "load_diags": "bench",
            "db_url": f"mysql://root@{opts.host}:{opts.port}/{dbname}",
            "mysql_pool_size": str(opts.pool_size),
            "bench_queries": str(opts.queries),
        },
    )

    stats = {
        "max_late": 0.0,
        "ticks": 0,
        "finished": 0,
        "ok": 0,
        "failed": {},
        "lates": [],
        "timeline": [],
    }
    interval = 0.010
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        late = now - last[0] - interval
        last[0] = now
        if stats["ticks"] > 0:  # the first tick has no predecessor
            stats["max_late"] = max(stats["max_late"], late)
            stats["lates"].append(late)
            stats["timeline"].append((now - stats["start"], late))
        stats["ticks"] += 1

    def ended(session) -> None:
        stats["finished"] += 1
        if session.vars.get("done") == "1":
            stats["ok"] += 1
        else:
            why = session.vars.get("failed", "?")
            stats["failed"][why] = stats["failed"].get(why, 0) + 1
        if stats["finished"] == opts.sessions:
            stats["end"] = time.monotonic()
            reactor.callLater(0.05, reactor.stop)

    runtime.on_session_end.append(ended)
    looper = task.LoopingCall(tick)

    def start() -> None:
        looper.start(interval)
        stats["start"] = time.monotonic()
        for _ in range(opts.sessions):
            ok, status = runtime.create_system_dsm("main", "bench")
            if not ok:
                raise SystemExit(status)
        stats["create"] = time.monotonic() - stats["start"]

    reactor.callWhenRunning(start)
    reactor.callLater(600, reactor.stop)  # safety net
    try:
        reactor.run()
        modmysql.shutdown(runtime)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{dbname}`")
        admin.close()

    if "end" not in stats:
        print(f"did not finish: {stats['finished']}/{opts.sessions} sessions ended")
        return 1
    elapsed = stats["end"] - stats["start"]
    total = stats["ok"] * opts.queries
    lates = sorted(stats["lates"])
    p99 = lates[int(len(lates) * 0.99)] if lates else 0.0
    print(
        f"sessions: {opts.sessions} concurrent, {opts.queries} query+getResult each, "
        f"pool {opts.pool_size} connections"
    )
    print(f"ok sessions: {stats['ok']}, failed: {stats['failed'] or 0}")
    print(f"queries: {total} in {elapsed:.2f} s = {total / elapsed:.0f} queries/s")
    print(
        f"reactor stall (10 ms LoopingCall lateness): max {stats['max_late'] * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms over {stats['ticks']} ticks"
    )
    print(
        f"  (creating the {opts.sessions} sessions took {stats['create'] * 1000:.0f} ms "
        f"in one reactor turn, the bench's own start-up stall)"
    )
    steady = sorted(late for at, late in stats["timeline"] if at > 1.0)
    if steady:
        print(
            f"  after the first second (all {opts.sessions} connects done): "
            f"max {steady[-1] * 1000:.1f} ms, p99 {steady[int(len(steady) * 0.99)] * 1000:.1f} ms"
        )
    return 0 if stats["ok"] == opts.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
