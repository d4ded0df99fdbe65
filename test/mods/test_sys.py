"""mod_sys: every action and condition, driven through DSM scripts on the harness."""

from __future__ import annotations

import os
import time

from twisted.internet import task
from twisted.trial import unittest

from test.dsm.helpers import harness_with
from test.util import wait_until


class SysTests(unittest.TestCase):
    timeout = 20

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)

    async def run_script(self, body: str, conditions: str = "", variables: dict | None = None):
        h = harness_with(
            self,
            t=f"""
            import(mod_sys);
            initial state START;
            transition "go" START - sessionStart / {{
            {body}
            }} -> DONE;
            state DONE;
            state FAILED;
            transition "exception" START - exception / {{
              set($ex_type=#type);
              set($ex_cause=#cause);
            }} -> FAILED;
            {conditions}
            """,
        )
        s = h.call("t", variables=dict(variables or {}, d=self.dir))
        await wait_until(
            lambda: s.state in ("DONE", "FAILED"), 10, "the script in DONE or FAILED", interval=0.01
        )
        return s

    async def test_mkdir(self):
        """sys.mkdir creates a directory, fails (errno set) when it exists or its parent is missing; mkdirRecursive does not."""
        s = await self.run_script("""
              sets($p=$(d)/a);
              sys.mkdir($p); set($e1=$errno);
              sys.mkdir($p); set($e2=$errno);
              sets($deep=$(d)/x/y/z);
              sys.mkdir($deep); set($e3=$errno);
              sys.mkdirRecursive($deep); set($e4=$errno);
              sys.mkdirRecursive($deep); set($e5=$errno);
            """)
        self.assertEqual([s.vars[f"e{i}"] for i in range(1, 6)], ["", "file", "file", "", ""])
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "x", "y", "z")))

    async def test_rename_unlink(self):
        """sys.rename and sys.unlink work once, then set $errno for the missing file."""
        with open(os.path.join(self.dir, "f1"), "w") as f:
            f.write("data")
        s = await self.run_script("""
              sets($f1=$(d)/f1);
              sets($f2=$(d)/f2);
              sys.rename($f1, $f2); set($e1=$errno);
              sys.rename($f1, $f2); set($e2=$errno);
              sys.unlink($f2); set($e3=$errno);
              sys.unlink($f2); set($e4=$errno);
              set($errno=unchanged);
              sys.unlink($nothing); set($e5=$errno);
            """)
        self.assertEqual(
            [s.vars[f"e{i}"] for i in range(1, 6)], ["", "file", "", "file", "unchanged"]
        )
        self.assertEqual(os.listdir(self.dir), [])

    async def test_unlink_array(self):
        """sys.unlinkArray deletes the files an array names in a directory, and leaves the others."""
        for name in ("a.wav", "b.wav", "c.wav"):
            open(os.path.join(self.dir, name), "w").close()
        s = await self.run_script("""
              set($files_0=a.wav);
              set($files_1=b.wav);
              set($files_size=2);
              sys.unlinkArray(files, $d); set($e1=$errno);
              sys.unlinkArray(files, $d); set($e2=$errno);
              set($other[0]=c.wav);
              set($other_size=1);
              sys.unlinkArray(other, $d); set($e3=$errno);
              sys.unlinkArray(nosize, $d); set($e4=$errno);
            """)
        self.assertEqual([s.vars[f"e{i}"] for i in range(1, 5)], ["", "file", "", "arg"])
        self.assertEqual(os.listdir(self.dir), [])

    async def test_tmpnam(self):
        """sys.tmpnam creates a new temporary file and names it in the variable."""
        s = await self.run_script("sys.tmpnam(tmp); set($e=$errno);")
        path = s.vars["tmp"]
        self.addCleanup(os.unlink, path)
        self.assertEqual(s.vars["e"], "")
        self.assertTrue(os.path.isfile(path))

    async def test_file_conditions(self):
        """sys.file_exists and file_not_exists tell an existing file from a missing one."""
        open(os.path.join(self.dir, "here"), "w").close()
        s = await self.run_script("""
              sets($here=$(d)/here);
              sets($gone=$(d)/gone);
              if sys.file_exists($here) { set($c1=yes); } else { set($c1=no); }
              if sys.file_exists($gone) { set($c2=yes); } else { set($c2=no); }
              if sys.file_not_exists($gone) { set($c3=yes); } else { set($c3=no); }
              if sys.file_not_exists($here) { set($c4=yes); } else { set($c4=no); }
              if not sys.file_exists($gone) { set($c5=yes); } else { set($c5=no); }
            """)
        self.assertEqual([s.vars[f"c{i}"] for i in range(1, 6)], ["yes", "no", "yes", "no", "yes"])

    async def test_popen_output_and_status(self):
        """sys.popen puts the command's output into the variable and its exit status beside it."""
        s = await self.run_script(
            """
              sys.popen($out="echo hello; echo world");
              sys.popen($fail="echo partial; exit 3");
              sys.popen($quiet=$cmd);
            """,
            variables={"cmd": "printf 'a b'"},
        )
        self.assertEqual(s.vars["out"], "hello\nworld\n")
        self.assertEqual(s.vars["out.status"], "0")
        self.assertEqual(s.vars["fail"], "partial\n")
        self.assertEqual(s.vars["fail.status"], str(3 * 256))
        self.assertEqual((s.vars["quiet"], s.vars["quiet.status"]), ("a b", "0"))

    async def test_popen_does_not_block_the_reactor(self):
        """A slow sys.popen command leaves the reactor running other work meanwhile."""
        ticks = []
        loop = task.LoopingCall(lambda: ticks.append(time.monotonic()))
        loop.start(0.01)
        self.addCleanup(loop.stop)
        started = time.monotonic()
        s = await self.run_script('sys.popen($out="sleep 0.5; echo done");')
        self.assertEqual(s.vars["out"], "done\n")
        self.assertGreater(time.monotonic() - started, 0.45)
        self.assertGreater(len(ticks), 20)
        self.assertLess(max(b - a for a, b in zip(ticks, ticks[1:])), 0.2)

    async def test_popen_killed_by_signal(self):
        """A popen'd command killed by a signal reports that signal as its status."""
        s = await self.run_script('sys.popen($out="kill -TERM $$");')
        self.assertEqual(s.vars["out"], "")
        self.assertEqual(s.vars["out.status"], "15")

    async def test_system_condition(self):
        """sys.system is true for exit 0 and false otherwise, with 'not' inverting it."""
        s = await self.run_script("""
              if sys.system(true) { set($c1=yes); } else { set($c1=no); }
              if sys.system(false) { set($c2=yes); } else { set($c2=no); }
              if sys.system("exit 0") { set($c3=yes); } else { set($c3=no); }
              if not sys.system("exit 1") { set($c4=yes); } else { set($c4=no); }
            """)
        self.assertEqual([s.vars[f"c{i}"] for i in range(1, 5)], ["yes", "no", "yes", "yes"])

    async def test_system_other_exit_codes_are_false_and_logged(self):
        """A sys.system exit code other than 0 or 1 is false and logged as an error."""
        h = harness_with(
            self,
            t="""
            import(mod_sys);
            initial state START;
            transition "ok" START - sessionStart; sys.system("exit 7") -> YES;
            transition "no" START - sessionStart -> NO;
            state YES;
            state NO;
            """,
        )
        s = h.call("t")
        # the command runs as a real child process
        await wait_until(lambda: s.state != "START", 5, "the script past START", interval=0.02)
        self.assertEqual(s.state, "NO")
        self.assertTrue(any("returned 7" in e for e in h.errors()))

    async def test_system_does_not_block_the_reactor(self):
        """A slow sys.system command leaves the reactor running other work meanwhile."""
        ticks = []
        loop = task.LoopingCall(lambda: ticks.append(time.monotonic()))
        loop.start(0.01)
        self.addCleanup(loop.stop)
        s = await self.run_script('if sys.system("sleep 0.5") { set($slept=yes); }')
        self.assertEqual(s.vars["slept"], "yes")
        self.assertLess(max(b - a for a, b in zip(ticks, ticks[1:])), 0.2)

    async def test_timestamps(self):
        """sys.getTimestamp gives the current time; sys.subTimestamp subtracts with microsecond borrow."""
        before = time.time()
        s = await self.run_script("""
              sys.getTimestamp(t1);
              set($t0.tv_sec=100);
              set($t0.tv_usec=900000);
              set($a.tv_sec=102);
              set($a.tv_usec=100000);
              sys.subTimestamp(a, t0);
            """)
        self.assertLess(abs(int(s.vars["t1.tv_sec"]) - before), 2)
        self.assertTrue(0 <= int(s.vars["t1.tv_usec"]) < 1_000_000)
        self.assertEqual(
            (s.vars["a.tv_sec"], s.vars["a.tv_usec"], s.vars["a.msec"]), ("1", "200000", "1200")
        )

    async def test_popen_that_cannot_start_throws_popen(self):
        """A command that cannot even start throws a 'popen' exception the script can catch."""
        from donkey.mods import sys as modsys

        class Broken:
            def spawnProcess(self, *args, **kwargs):
                raise OSError(24, "Too many open files")

        self.patch(modsys, "_process_reactor", lambda session: Broken())
        s = await self.run_script('sys.popen($out="true"); set($after=1);')
        self.assertEqual(
            (s.state, s.vars["ex_type"], s.vars["ex_cause"]),
            ("FAILED", "popen", "Too many open files"),
        )
        self.assertNotIn("after", s.vars)
