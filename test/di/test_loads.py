"""Loads over XML-RPC (findings 1, 2 and 10 of issue 11): what a caller names cannot harm the server.

A real XML-RPC service over HTTP in front of the ``dsm`` interface, whose
reading and compiling run in a worker thread as in the daemon.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from twisted.internet import defer, reactor, task, threads
from twisted.trial import unittest
from twisted.web.xmlrpc import Proxy

from donkey.app.control import make_dsm_interface
from donkey.di.registry import DIRegistry
from donkey.di.xmlrpc import InMemoryCoreControl, make_xmlrpc_service
from donkey.dsm.harness import Harness

APP = 'initial state A;\nstate B;\ntransition "go" A - event(#go == 1) / set($v={v}) -> B;\n'


def _write(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


class LoadTests(unittest.TestCase):
    def setUp(self) -> None:
        root = os.path.abspath(self.mktemp())
        self.bundles = os.path.join(root, "bundles")
        self.mods = os.path.join(root, "mods")
        self.evil = os.path.join(root, "evil")
        for d in (self.bundles, self.mods, self.evil):
            os.makedirs(d)
        _write(os.path.join(self.bundles, "app.dsm"), APP.format(v="one"))
        self.harness = Harness(
            main_config={
                "diag_path": self.bundles,
                "mod_path": self.mods,
                "allowed_config_dirs": self.bundles,
            }
        )
        self.runtime = self.harness.runtime
        self.harness.load("app", {"diag_path": self.bundles, "load_diags": "app"})
        self.runtime.register_app("app", "app")
        self.original = self.runtime.apps["app"][0]
        registry = DIRegistry()
        registry.register(
            "dsm", make_dsm_interface(self.runtime, run_blocking=threads.deferToThread)
        )
        conf = {"server_ip": "127.0.0.1", "xmlrpc_port": "0", "direct_export": "dsm"}
        self.service = make_xmlrpc_service(conf, registry, InMemoryCoreControl(), reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.proxy = Proxy(b"http://127.0.0.1:%d/" % self.service.get_port())

    def call(self, method: str, *args: Any) -> defer.Deferred:
        return self.proxy.callRemote(method, *args)

    def unchanged(self) -> None:
        self.assertIs(self.runtime.apps["app"][0], self.original)

    @defer.inlineCallbacks
    def test_passwd_is_refused_without_its_content(self) -> None:
        """loadConfig('/etc/passwd') answers 403 naming the path, never root's line (finding 2)."""
        code, reason = yield self.call("loadConfig", "/etc/passwd", "x")
        self.assertEqual(code, 403)
        self.assertIn("not inside an allowed configuration directory", reason)
        self.assertNotIn("root:", reason)
        self.unchanged()

    @defer.inlineCallbacks
    def test_symlink_out_of_an_allowed_directory_is_refused(self) -> None:
        """A symlink inside an allowed directory pointing at /etc/passwd is refused."""
        link = os.path.join(self.bundles, "passwd.conf")
        os.symlink("/etc/passwd", link)
        code, reason = yield self.call("loadConfig", link, "x")
        self.assertEqual(code, 403)
        self.assertNotIn("root:", reason)

    @defer.inlineCallbacks
    def test_bad_line_is_named_not_quoted(self) -> None:
        """A file in an allowed directory that is not key=value is refused by line number only."""
        path = _write(os.path.join(self.bundles, "bad.conf"), "root:x:0:0:root:/root:/bin/sh\n")
        code, reason = yield self.call("loadConfig", path, "x")
        self.assertEqual(code, 500)
        self.assertIn("bad.conf:1", reason)
        self.assertNotIn("root:x", reason)

    @defer.inlineCallbacks
    def test_special_files_answer_at_once(self) -> None:
        """A FIFO, the reactor's own pipe as /proc/self/fd/N, /dev/urandom: refused at once (finding 1)."""
        fifo = os.path.join(self.bundles, "fifo.conf")
        os.mkfifo(fifo)
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)
        self.addCleanup(os.close, write_end)
        pipe_link = os.path.join(self.bundles, "pipe.conf")
        os.symlink(f"/proc/self/fd/{read_end}", pipe_link)
        urandom = os.path.join(self.bundles, "random.conf")
        os.symlink("/dev/urandom", urandom)
        big = _write(os.path.join(self.bundles, "big.conf"), "k=" + "v" * (1 << 20) + "\n")
        for path, why in (
            (fifo, "not a regular file"),
            (pipe_link, "not inside an allowed"),
            (f"/proc/self/fd/{read_end}", "not inside an allowed"),
            (urandom, "not inside an allowed"),
            ("/dev/urandom", "not inside an allowed"),
            (big, "larger than 1048576 bytes"),
        ):
            started = time.monotonic()
            code, reason = yield self.call("loadConfig", path, "x")
            self.assertEqual(code, 403, reason)
            self.assertIn(why, reason)
            self.assertLess(time.monotonic() - started, 5.0)
        self.unchanged()

    @defer.inlineCallbacks
    def test_dev_null_as_main_keeps_the_running_apps(self) -> None:
        """loadConfig('/dev/null', 'main') is refused and unloads nothing."""
        code, _ = yield self.call("loadConfig", "/dev/null", "main")
        self.assertEqual(code, 403)
        empty = _write(os.path.join(self.bundles, "empty.conf"), "# nothing\n")
        code, reason = yield self.call("loadConfig", empty, "app")
        self.assertEqual(code, 400)
        self.assertIn("loads no diagrams", reason)
        self.unchanged()

    @defer.inlineCallbacks
    def test_bundle_mod_path_outside_main_mod_path_is_refused(self) -> None:
        """A bundle whose mod_path names another directory is refused before any of its Python runs."""
        marker = os.path.join(self.evil, "ran")
        _write(
            os.path.join(self.evil, "mod_evil.py"),
            f"open({marker!r}, 'w').close()\n",
        )
        conf = _write(
            os.path.join(self.bundles, "evil.conf"),
            f"diag_path={self.bundles}\nload_diags=app\nmod_path={self.evil}\n"
            "preload_mods=mod_evil\n",
        )
        code, reason = yield self.call("loadConfig", conf, "app")
        self.assertEqual(code, 403)
        self.assertIn("main configuration's mod_path", reason)
        code, _ = yield self.call("preloadModule", "mod_evil", self.evil)
        self.assertEqual(code, 403)
        code, _ = yield self.call("loadDSMWithPaths", "app2", self.bundles, self.evil)
        self.assertEqual(code, 403)
        self.assertFalse(os.path.exists(marker))
        self.unchanged()

    @defer.inlineCallbacks
    def test_modules_load_from_the_main_mod_path(self) -> None:
        """A module in the main configuration's mod_path is found for a bundle and for preloadModule."""
        _write(
            os.path.join(self.mods, "mod_mine.py"),
            "from donkey.dsm.module import Module\nmodule = Module('mod_mine')\n",
        )
        answer = yield self.call("preloadModule", "mod_mine", self.mods)
        self.assertEqual(answer, [200, "module preloaded."])
        conf = _write(
            os.path.join(self.bundles, "mine.conf"),
            f"diag_path={self.bundles}\nload_diags=app\nmod_path={self.mods}\n"
            "preload_mods=mod_mine\n",
        )
        self.assertEqual((yield self.call("loadConfig", conf, "mine")), [200, "OK"])

    @defer.inlineCallbacks
    def test_missing_registered_app_leaves_the_running_app(self) -> None:
        """A bundle whose register_apps names a missing script fails and the app stays (finding 10)."""
        _write(os.path.join(self.bundles, "app.dsm"), APP.format(v="two"))
        conf = _write(
            os.path.join(self.bundles, "app.conf"),
            f"diag_path={self.bundles}\nload_diags=app\nregister_apps=app,missing\n",
        )
        code, reason = yield self.call("loadConfig", conf, "app")
        self.assertEqual(code, 500)
        self.assertIn("'missing' is not loaded", reason)
        self.unchanged()
        self.assertIs(self.runtime.bundles["app"], self.original)
        s = self.harness.call("app", bundle="app")
        s.event(go="1")
        self.assertEqual(s.vars["v"], "one")

    @defer.inlineCallbacks
    def test_large_script_compiles_off_the_reactor(self) -> None:
        """Loading a ~1 MiB script keeps the reactor turning: the compile runs in a worker thread."""
        states = "".join(f"state S{i};\n" for i in range(40_000))
        body = "initial state A;\n" + states
        self.assertLess(len(body), 1 << 20)
        _write(os.path.join(self.bundles, "huge.dsm"), body)
        conf = _write(
            os.path.join(self.bundles, "huge.conf"), f"diag_path={self.bundles}\nload_diags=huge\n"
        )
        compiled_in: list[str] = []
        original = self.runtime.compile_bundle

        def spy(*args: Any, **kw: Any) -> Any:
            compiled_in.append(threading.current_thread().name)
            return original(*args, **kw)

        self.runtime.compile_bundle = spy  # type: ignore[method-assign]
        gaps: list[float] = []
        last = [time.monotonic()]

        def tick() -> None:
            now = time.monotonic()
            gaps.append(now - last[0])
            last[0] = now

        ticker = task.LoopingCall(tick)
        ticker.start(0.01)
        started = time.monotonic()
        answer = yield self.call("loadConfig", conf, "huge")
        took = time.monotonic() - started
        ticker.stop()
        self.assertEqual(answer, [200, "OK"])
        self.assertNotEqual(compiled_in, [threading.main_thread().name])
        # the reactor kept turning while the compile took its time
        self.assertLess(max(gaps), max(0.5, took / 2), (took, max(gaps)))
