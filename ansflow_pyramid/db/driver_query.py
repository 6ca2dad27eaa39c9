"""Moved to :mod:`ansflow_pyramid.fastpath` (kept for existing imports)."""

from ansflow_pyramid.fastpath.prepared import DriverQuery

__all__ = ["DriverQuery"]
