"""Multilingual search (issue 3): analysis pipeline, backends, service and routes."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the search service and routes to ``app`` (filled in by the search component)."""
