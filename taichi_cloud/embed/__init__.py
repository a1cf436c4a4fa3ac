"""The embed component: iframe players for videos, collections and courses, and oEmbed 1.0."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from ..keys import API_SPEC, JINJA, SETTINGS


def oembed_href(public_url: str, path: str) -> str:
    """The oEmbed endpoint URL describing the page at ``path`` (for discovery links)."""
    base = public_url.rstrip("/")
    return f"{base}/oembed?url={quote(base + path, safe='')}&format=json"


def setup(app: web.Application) -> None:
    from . import oembed, pages

    for routes in (pages.api, oembed.api):
        app.router.add_routes(routes.table)
        app[API_SPEC].add(routes)

    async def template_helpers(app: web.Application) -> None:
        # The jinja environment is made by web.pages.setup, after the components' setup.
        base = app[SETTINGS].public_url
        app[JINJA].globals["oembed_url"] = lambda path: oembed_href(base, path)

    app.on_startup.append(template_helpers)
