"""donkey's trial tests.

Property tests (hypothesis) explore new random inputs on every local run;
under CI (``CI=true``) they are derandomized, so a CI run is repeatable and a
failure there is one that reproduces.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
