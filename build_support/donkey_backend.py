"""The build backend: setuptools, with editable installs in its "compat" mode.

twistd finds the ``donkeysm`` plugin by scanning every ``twisted/plugins``
directory on ``sys.path``.  setuptools' default editable install puts no
directory on ``sys.path`` (it installs an import hook for ``donkey`` only),
so after ``pip install -e .`` twistd would not see this checkout's
``twisted/plugins/donkeysm.py``.  The compat mode adds the checkout itself to
``sys.path`` with a ``.pth`` file, which is what the plugin needs.  Regular
installs (``pip install .``) are plain setuptools.
"""

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the PEP 517 hooks)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """An editable wheel whose ``.pth`` names this checkout (twistd sees the plugin)."""
    settings = dict(config_settings or {})
    settings.setdefault("editable_mode", "compat")
    return _setuptools.build_editable(wheel_directory, settings, metadata_directory)
