"""The search page: the search service with facets as filters, snippets, did-you-mean, pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..catalog.model import KINDS, LEVELS
from ..catalog.views import KIND_PAGES
from ..keys import QUERY, SEARCH
from ..search.base import SearchQuery
from .context import requested_locales, viewer
from .openapi import ApiRoutes
from .pages import render

api = ApiRoutes()
PER_PAGE = 20
FILTERS = ("kind", "style", "level", "language", "has_subtitles")


def hit_url(hit: dict[str, Any]) -> str:
    url = f"/{KIND_PAGES.get(hit['kind'], 'videos')}/{hit['id']}"
    return f"{url}?t={hit['start']:g}" if hit.get("start") is not None else url


@api.get("/search", summary="Search page", tag="pages", response_content="text/html",
         query={"q": {"type": "string", "maxLength": 500, "default": ""},
                "kind": {"enum": list(KINDS)}, "style": {"type": "string", "maxLength": 40},
                "level": {"enum": list(LEVELS)},
                "language": {"type": "string", "maxLength": 35, "pattern": "^[A-Za-z0-9-]+$"},
                "has_subtitles": {"type": "boolean"},
                "page": {"type": "integer", "minimum": 1, "maximum": 50, "default": 1}},
         errors=(400,))
async def search_page(request: web.Request) -> web.Response:
    q = request[QUERY]
    who = viewer(request)
    results = None
    if q["q"].strip() or any(q.get(f) is not None for f in FILTERS):
        query = SearchQuery(text=q["q"], lang=requested_locales(request)[0], kind=q.get("kind"),
                            style=q.get("style"), level=q.get("level"), language=q.get("language"),
                            has_subtitles=q.get("has_subtitles"), page=q["page"], per_page=PER_PAGE,
                            visible_only=not (who is not None and who.has("reviewer")))
        results = (await request.app[SEARCH].search(query)).to_json()
        for hit in results["hits"]:
            hit["url"] = hit_url(hit)
    current = {k: v for k, v in request.query.items() if k in ("q", *FILTERS, "lang") and v}

    def link(**changes: Any) -> str:
        params = {k: v for k, v in current.items() if k != "page"}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return "/search?" + urlencode(params)

    pages = 0
    if results:
        pages = min(50, (results["total"] + PER_PAGE - 1) // PER_PAGE)
    return render(request, "search.html", title=q["q"] or None, q=q["q"], results=results,
                  filters={f: q.get(f) for f in FILTERS}, link=link, page=q["page"], pages=pages,
                  kind_pages=KIND_PAGES)
