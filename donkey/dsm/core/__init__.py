"""The core module: the actions and conditions every script has without ``import``.

Registered through the same :class:`~donkey.dsm.module.Module` interface as any
other module.  Semantics follow SEMS's core set, including its quirks where
scripts rely on them (``var()`` creating an empty source variable,
``throwOnError()`` creating ``$strerror``, ``setTimer`` clearing ``$errno``).
Actions that need a call or media go through ``session.call`` /
``session.media``; in a system DSM they throw a ``core`` exception.

Each concern is a file of this package registering on the one
:data:`~donkey.dsm.core.base.core` module: :mod:`~donkey.dsm.core.flow`,
:mod:`~donkey.dsm.core.variables`, :mod:`~donkey.dsm.core.log`,
:mod:`~donkey.dsm.core.events` (timers and events between sessions),
:mod:`~donkey.dsm.core.di`, :mod:`~donkey.dsm.core.objects`,
:mod:`~donkey.dsm.core.media`, :mod:`~donkey.dsm.core.b2b` (B2B call control)
and :mod:`~donkey.dsm.core.conditions`.
"""

from __future__ import annotations

# Importing the action files registers their actions and conditions on ``core``.
from donkey.dsm.core import (  # noqa: F401
    b2b,
    conditions,
    di,
    events,
    flow,
    log,
    media,
    objects,
    variables,
)
from donkey.dsm.core.base import core
from donkey.dsm.core.conditions import TestExpr, compile_test
from donkey.dsm.core.events import event_params_from_vars
from donkey.dsm.core.variables import array_size

__all__ = ["core", "TestExpr", "compile_test", "event_params_from_vars", "array_size"]
