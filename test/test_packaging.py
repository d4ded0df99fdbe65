"""donkey as a user installs it: ``pip install .`` and ``pip install -e .`` in a fresh venv.

Each test builds a virtual environment (``--system-site-packages``, so the
dependencies already installed need no download), installs this checkout and
asks ``twistd donkeysm --help`` from a directory outside the checkout, with
no ``PYTHONPATH``: the plugin must be found through the installation alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What a regular install must not see of the checkout (build leftovers, test runs).
NOT_SOURCE = (".git", "build", "dist", "*.egg-info", "_trial_temp*", "__pycache__", ".*_cache")
#: twistd run by the venv's interpreter (twisted's own console script may live outside it).
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"
WHERE = "import donkey, twisted.plugins.donkeysm as p; print(donkey.__file__); print(p.__file__)"
#: Imports each module named in argv from the venv; names those missing or found elsewhere
#: (another donkey on the system site-packages must not stand in for a missing package).
IMPORT_ALL = """\
import importlib, os, sys
bad = []
for name in sys.argv[1:]:
    try:
        found = importlib.import_module(name).__file__ or ""
    except ImportError as e:
        bad.append(f"{name}: {e}")
        continue
    if not os.path.realpath(found).startswith(os.path.realpath(sys.prefix) + os.sep):
        bad.append(f"{name}: not installed (found {found})")
print("\\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def checkout_modules() -> list[str]:
    """Every module of the checkout's ``donkey`` package, as dotted names."""
    names = []
    for folder, _, files in os.walk(os.path.join(ROOT, "donkey")):
        package = os.path.relpath(folder, ROOT).replace(os.sep, ".")
        names += [f"{package}.{f[:-3]}" for f in sorted(files) if f.endswith(".py")]
    return sorted(n[: -len(".__init__")] if n.endswith(".__init__") else n for n in names)


class InstallTests(unittest.TestCase):
    timeout = 600

    def _command(self, argv: list[str], cwd: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=500)

    async def _install(self, *pip_args: str) -> tuple[str, list[str]]:
        """A venv with this checkout installed; (its python, [donkey file, plugin file])."""
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        venv = os.path.join(base, "venv")
        made = await deferToThread(
            self._command, [sys.executable, "-m", "venv", "--system-site-packages", venv], base
        )
        if made.returncode != 0:
            raise unittest.SkipTest(f"python3 -m venv does not work here: {made.stderr[-500:]}")
        python = os.path.join(venv, "bin", "python")
        source = ROOT
        if "-e" not in pip_args:
            # a copy: setuptools would reuse a stale build/ of the checkout
            source = os.path.join(base, "source")
            shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
        pip = await deferToThread(
            self._command, [python, "-m", "pip", "install", "-q", *pip_args, source], base
        )
        self.assertEqual(pip.returncode, 0, pip.stdout + pip.stderr)
        where = await deferToThread(self._command, [python, "-c", WHERE], base)
        self.assertEqual(where.returncode, 0, where.stderr)
        helped = await deferToThread(
            self._command, [python, "-c", TWISTD, "donkeysm", "--help"], base
        )
        self.assertEqual(helped.returncode, 0, helped.stdout + helped.stderr)
        self.assertIn("twistd [options] donkeysm", helped.stdout)
        self.assertIn("--rtp-ports", helped.stdout)
        return venv, where.stdout.split()

    async def test_regular_install_has_the_plugin(self):
        """After pip install . twistd knows donkeysm, and every module and command is installed."""
        venv, (module, plugin) = await self._install()
        self.assertTrue(module.startswith(venv), module)
        self.assertTrue(plugin.startswith(venv), plugin)
        python = os.path.join(venv, "bin", "python")
        base = os.path.dirname(venv)
        imported = await deferToThread(
            self._command, [python, "-c", IMPORT_ALL, *checkout_modules()], base
        )
        self.assertEqual(imported.returncode, 0, imported.stderr[-2000:])
        run = await deferToThread(
            self._command, [os.path.join(venv, "bin", "donkeysm-run"), "--help-events"], base
        )
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])

    async def test_editable_install_has_the_plugin(self):
        """After pip install -e . twistd knows donkeysm, from this checkout."""
        venv, (module, plugin) = await self._install("-e")
        self.assertEqual(module, os.path.join(ROOT, "donkey", "__init__.py"))
        self.assertEqual(plugin, os.path.join(ROOT, "twisted", "plugins", "donkeysm.py"))
