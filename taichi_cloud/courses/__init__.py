"""The courses component: courses, honest progress, certificates, reports, xAPI, embeds."""

from __future__ import annotations

from aiohttp import web

from ..keys import API_SPEC


def setup(app: web.Application) -> None:
    """Add this component's services and routes to ``app`` (and the embed component's)."""
    from .. import embed
    from . import pages, progress_routes, routes
    from .component import courses_context

    app.cleanup_ctx.append(courses_context)
    for table, components in ((routes.api, routes.COMPONENTS), (progress_routes.api, {}),
                              (pages.api, {})):
        app.router.add_routes(table.table)
        app[API_SPEC].add(table, components)
    embed.setup(app)
