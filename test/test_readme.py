"""The README's examples do what the README says they do."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def blocks(kind: str) -> list[str]:
    """The README's fenced code blocks whose info string is ``kind`` ("" for none)."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"^```" + re.escape(kind) + r"\n(.*?)^```$", text, re.S | re.M)


def indented_commands(prefix: str) -> list[str]:
    """The README's indented command lines that start with ``prefix``."""
    with open(README, encoding="utf-8") as f:
        return [line.strip() for line in f if line.startswith("    " + prefix)]


def donkeysm_run(*args: str, cwd: str) -> subprocess.CompletedProcess:
    code = "import sys; from donkey.dsm.cli import run_main; sys.exit(run_main())"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class FirstScriptTests(unittest.TestCase):
    def test_first_script_plays_the_bundled_prompt(self):
        """The README's first DSM script, run as the README says, answers 183 and plays a real file."""
        script = next(b for b in blocks("") if "initial state" in b)
        (command,) = [c for c in indented_commands("donkeysm-run") if "welcome.dsm" in c]
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        with open(os.path.join(workdir, "welcome.dsm"), "w", encoding="utf-8") as f:
            f.write(script)
        argv = shlex.split(command.replace("$PWD", ROOT))[1:]
        argv[argv.index("welcome.dsm")] = os.path.join(workdir, "welcome.dsm")
        result = donkeysm_run(*argv, cwd=ROOT)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        prompt = os.path.join(ROOT, "conf", "dsm", "quizconnect", "prompts", "welcome_caller.wav")
        self.assertIn("reply:   183 Session Progress", result.stdout)
        self.assertIn(f"played:  {prompt}", result.stdout)
        self.assertTrue(os.path.isfile(prompt))
        self.assertNotIn("error:", result.stdout)


class ModuleExampleTests(unittest.TestCase):
    def test_module_example_runs(self):
        """The README's mod_hello, saved as mod_hello.py, gives a script hello.greet."""
        (module,) = [b for b in blocks("python") if "mod_hello" in b]
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        with open(os.path.join(workdir, "mod_hello.py"), "w", encoding="utf-8") as f:
            f.write(module)
        with open(os.path.join(workdir, "greet.dsm"), "w", encoding="utf-8") as f:
            f.write("import(mod_hello);\ninitial state A enter { hello.greet(World, Hello); };\n")
        result = donkeysm_run(
            "--mod-path", workdir, os.path.join(workdir, "greet.dsm"), cwd=workdir
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("  $greeting='Hello, World'", result.stdout)


class SetupCommandTests(unittest.TestCase):
    def test_exactly_two_setup_commands(self):
        """'Two commands' shows one that runs the server and one that runs the tests."""
        with open(README, encoding="utf-8") as f:
            text = f.read()
        section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
        commands = [line.strip() for line in section.splitlines() if line.startswith("    ")]
        self.assertEqual(commands, ["pip install . && twistd -n donkeysm", "bash .ci/run"])
        self.assertTrue(os.access(os.path.join(ROOT, ".ci", "run"), os.X_OK))
        self.assertNotIn("setup.py", text)
