"""``GET /api/v1/search``: thin handler over :class:`~.service.SearchService`."""

from __future__ import annotations

from aiohttp import web

from ..catalog.model import KINDS, LEVELS
from ..errors import Invalid
from ..keys import QUERY, SEARCH
from ..web.context import json_response, requested_locales, viewer
from ..web.openapi import ApiRoutes
from .base import FACETS, MAX_PER_PAGE, MAX_WINDOW, SearchQuery

api = ApiRoutes()
MAX_QUERY_CHARS = 500
TAG = {"type": "string", "maxLength": 35, "pattern": "^[A-Za-z0-9-]+$"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
SEARCH_RESULTS = {
    "type": "object", "required": ["total", "hits", "facets", "suggestion"],
    "properties": {
        "total": {"type": "integer"},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "hits": {"type": "array", "items": {
            "type": "object", "required": ["id", "kind", "title", "snippet", "score"],
            "properties": {
                "id": {"type": "string"}, "kind": {"type": "string"},
                "title": {"type": "string"},
                "snippet": {"type": "string",
                            "description": "HTML-escaped text with <mark> around matches"},
                "score": {"type": "number"},
                "locale": {"type": "string", "description": "language of title and snippet"},
                "start": {"type": "number",
                          "description": "seconds: the hit is a chapter inside this video"}}}},
        "facets": {"type": "object", "properties": {name: COUNTS for name in FACETS}},
        "suggestion": {"type": ["string", "null"], "description": "did you mean"},
    },
}
COMPONENTS = {"SearchResults": SEARCH_RESULTS}


@api.get("/api/v1/search", summary="Search the catalog in any language", tag="search",
         description="Chinese (simplified, traditional, Japanese kanji), pinyin with or without "
         "spaces, Latin scripts with stems and typos, Korean. Anonymous callers see published "
         "public entries only; chapters are hits of their own with `start`.",
         query={"q": {"type": "string", "maxLength": MAX_QUERY_CHARS, "default": ""},
                "lang": TAG,
                "kind": {"enum": list(KINDS)},
                "style": {"type": "string", "maxLength": 40},
                "level": {"enum": list(LEVELS)},
                "language": TAG,
                "has_subtitles": {"type": "boolean"},
                "page": {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW, "default": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                             "default": 20}},
         response={"$ref": "#/components/schemas/SearchResults"}, errors=(400,))
async def search(request: web.Request) -> web.Response:
    q = request[QUERY]
    if q["page"] * q["per_page"] > MAX_WINDOW:
        raise Invalid(f"page × per_page may not exceed {MAX_WINDOW}", field="page")
    who = viewer(request)
    locale = requested_locales(request)[0]
    query = SearchQuery(
        text=q["q"], lang=locale, kind=q.get("kind"), style=q.get("style"), level=q.get("level"),
        language=q.get("language"), has_subtitles=q.get("has_subtitles"), page=q["page"],
        per_page=q["per_page"],
        # Reviewers (and admins) search drafts too; everyone else published public entries.
        visible_only=not (who is not None and who.has("reviewer")))
    results = await request.app[SEARCH].search(query)
    body = results.to_json()
    body.update(page=q["page"], per_page=q["per_page"])
    return json_response(body, language=locale)
