"""Finding modules: entry points, donkey.mods, mod_path files."""

import os

from twisted.trial import unittest

from donkey.dsm import loader
from donkey.dsm.errors import CompileError
from donkey.dsm.module import Module


class FakeEntryPoint:
    def __init__(self, name, obj):
        self.name = name
        self._obj = obj

    def load(self):
        return self._obj


class ModuleLoaderTests(unittest.TestCase):
    def test_entry_point_wins_and_is_cached(self):
        """An installed entry-point module overrides a bundled one of the same name and loads once."""
        third_party = Module("mod_dlg")  # may override a bundled module
        calls = []

        def entry_points(group):
            calls.append(group)
            return [FakeEntryPoint("mod_dlg", third_party)]

        self.patch(loader, "entry_points", entry_points)
        modules = loader.ModuleLoader()
        self.assertIs(modules.load("mod_dlg"), third_party)
        self.assertIs(modules.load("mod_dlg"), third_party)
        self.assertEqual(calls, [loader.ENTRY_POINT_GROUP])

    def test_make_module_factory(self):
        """An entry point may be a package with make_module(), which builds the module."""

        class Package:
            @staticmethod
            def make_module():
                return Module("mod_made")

        self.patch(loader, "entry_points", lambda group: [FakeEntryPoint("mod_made", Package)])
        self.assertEqual(loader.ModuleLoader().load("mod_made").name, "mod_made")

    def test_bundled_module_and_mod_path_file(self):
        """Bundled modules load by name, and a mod_<name>.py file in mod_path loads too."""
        self.patch(loader, "entry_points", lambda group: [])
        modules = loader.ModuleLoader()
        self.assertEqual(modules.load("mod_utils").name, "mod_utils")
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "mod_local.py"), "w") as f:
            f.write("from donkey.dsm.module import Module\nmodule = Module('mod_local')\n")
        self.assertEqual(modules.load("mod_local", directory).name, "mod_local")

    def test_unknown_module_is_a_compile_error(self):
        """A module found nowhere is a compile error naming it."""
        self.patch(loader, "entry_points", lambda group: [])
        with self.assertRaises(CompileError) as cm:
            loader.ModuleLoader().load("mod_nowhere", "/nonexistent")
        self.assertIn("module 'mod_nowhere' not found", str(cm.exception))
