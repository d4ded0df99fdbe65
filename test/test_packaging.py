"""donkey as a user installs it: ``pip install .`` and ``pip install -e .`` in a fresh venv.

Each test builds a virtual environment (``--system-site-packages``, so the
dependencies already installed need no download), installs this checkout and
asks ``twistd donkeysm --help`` from a directory outside the checkout, with
no ``PYTHONPATH``: the plugin must be found through the installation alone.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: twistd run by the venv's interpreter (twisted's own console script may live outside it).
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"
WHERE = "import donkey, twisted.plugins.donkeysm as p; print(donkey.__file__); print(p.__file__)"


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
        pip = await deferToThread(
            self._command, [python, "-m", "pip", "install", "-q", *pip_args, ROOT], base
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
        """After pip install . twistd knows donkeysm, from the installed copy."""
        venv, (module, plugin) = await self._install()
        self.assertTrue(module.startswith(venv), module)
        self.assertTrue(plugin.startswith(venv), plugin)

    async def test_editable_install_has_the_plugin(self):
        """After pip install -e . twistd knows donkeysm, from this checkout."""
        venv, (module, plugin) = await self._install("-e")
        self.assertEqual(module, os.path.join(ROOT, "donkey", "__init__.py"))
        self.assertEqual(plugin, os.path.join(ROOT, "twisted", "plugins", "donkeysm.py"))
