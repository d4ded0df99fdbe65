"""In-memory monitoring store (SEMS's monitoring module) and its DI interface."""

from donkey.monitoring.interface import MonitoringInterface, registerMonitoring
from donkey.monitoring.store import MonitoringStore

__all__ = ["MonitoringInterface", "MonitoringStore", "registerMonitoring"]
