"""Single import point for :mod:`audioop`.

``audioop`` is stdlib on 3.11/3.12 (deprecated, hence the silenced warning)
and comes from the ``audioop-lts`` package on 3.13+, under the same name.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # noqa: F401

__all__ = ["audioop"]
