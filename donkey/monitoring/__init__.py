"""In-memory monitoring store (SEMS's monitoring module).

Its DI interface, which XML-RPC serves, is glue and lives in
:mod:`donkey.app.monitoring_di`.
"""

from donkey.monitoring.store import MonitoringStore

__all__ = ["MonitoringStore"]
