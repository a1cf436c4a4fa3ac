"""Media pipeline: probing, the one-pass HLS + DASH ladder, posters, storyboards, captions."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the media services (uploads, jobs, streams) and routes to ``app``."""
