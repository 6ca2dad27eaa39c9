"""Moved to :mod:`ansflow_pyramid.fastpath` (kept for existing imports)."""

from ansflow_pyramid.fastpath.request_class import bake_request_class

__all__ = ["bake_request_class"]
