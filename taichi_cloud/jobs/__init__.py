"""The jobs component."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this component's services and routes to ``app``."""
