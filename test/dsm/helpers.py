"""Helpers for DSM tests: write scripts to a temp dir and run them on the harness."""

from __future__ import annotations

import os
import tempfile
import textwrap

from donkey.dsm.harness import Harness


def write_scripts(testcase, **scripts: str) -> str:
    """Write ``name=text`` scripts into a fresh directory; returns it."""
    directory = tempfile.mkdtemp(prefix="dsm-", dir=testcase.mktemp() if False else None)
    testcase.addCleanup(_rmtree, directory)
    for name, text in scripts.items():
        with open(os.path.join(directory, name + ".dsm"), "w") as f:
            f.write(textwrap.dedent(text))
    return directory


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def harness_with(
    testcase, main: str | None = None, conf: dict | None = None, **scripts: str
) -> Harness:
    """A harness with ``scripts`` loaded as the 'main' bundle."""
    directory = write_scripts(testcase, **scripts)
    h = Harness()
    bundle_conf = {
        "diag_path": directory,
        "load_diags": ",".join(scripts),
        "run_invite_event": "yes",
    }
    bundle_conf.update(conf or {})
    h.load("main", bundle_conf)
    return h
