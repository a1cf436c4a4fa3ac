"""oEmbed 1.0 (https://oembed.com) for videos, collections and courses of this site."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..catalog.routes import present
from ..catalog.service import can_view
from ..errors import NotFound, Unauthorized
from ..keys import CATALOG, I18N, QUERY, SETTINGS
from ..web.context import json_response
from ..web.openapi import ApiRoutes

api = ApiRoutes()
PROVIDER = "Tai Chi Cloud Museum"
#: Player sizes before maxwidth/maxheight: a 16:9 video, or a video with the playlist beside it.
SIZES = {"videos": (640, 360), "collections": (960, 360), "courses": (960, 360)}
PATH_RE = re.compile(r"^/(?:embed/)?(videos|collections|courses)/([A-Za-z0-9_-]{1,64})/?$")
KIND = {"videos": "video", "collections": "collection"}


def fit(width: int, height: int, max_width: int | None, max_height: int | None) -> tuple[int, int]:
    """Scale (width, height) down, keeping the aspect ratio, to fit inside the maxima."""
    scale = 1.0
    if max_width is not None and max_width < width:
        scale = min(scale, max_width / width)
    if max_height is not None and max_height < height:
        scale = min(scale, max_height / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def resolve_url(url: str, public_url: str) -> tuple[str, str]:
    """(section, id) of one of this site's embeddable pages, or :class:`NotFound`."""
    base = urlsplit(public_url.rstrip("/"))
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != base.netloc.lower():
        raise NotFound("the url is not a page of this site")
    path = parts.path
    if base.path and base.path != "/":
        if not path.startswith(base.path + "/"):
            raise NotFound("the url is not a page of this site")
        path = path[len(base.path):]
    match = PATH_RE.match(path)
    if match is None:
        raise NotFound("the url is not an embeddable video, collection or course page")
    return match[1], match[2]


@api.get("/oembed", summary="oEmbed 1.0 for video, collection and course pages", tag="embed",
         query={"url": {"type": "string", "minLength": 1, "maxLength": 2000},
                "format": {"type": "string", "maxLength": 10, "default": "json"},
                "maxwidth": {"type": "integer", "minimum": 1, "maximum": 10000},
                "maxheight": {"type": "integer", "minimum": 1, "maximum": 10000}},
         response={"type": "object", "required": ["version", "type", "html", "width", "height"]},
         errors=(400, 401, 404, 501))
async def oembed(request: web.Request) -> web.Response:
    q = request[QUERY]
    if q["format"] != "json":
        raise web.HTTPNotImplemented(text=f"format {q['format']!r} is not offered; use json")
    if not q.get("url"):
        from ..errors import Invalid

        raise Invalid("query parameter url is required", field="url")
    settings = request.app[SETTINGS]
    base = settings.public_url.rstrip("/")
    section, item_id = resolve_url(q["url"], base)
    title, thumbnail, author = await _describe(request, section, item_id)
    width, height = fit(*SIZES[section], q.get("maxwidth"), q.get("maxheight"))
    src = f"{base}/embed/{section}/{item_id}"
    body: dict[str, Any] = {
        "version": "1.0", "type": "video", "provider_name": PROVIDER, "provider_url": base + "/",
        "title": title, "width": width, "height": height, "cache_age": 3600,
        "html": (f'<iframe src="{html.escape(src)}" width="{width}" height="{height}" '
                 f'title="{html.escape(title)}" frameborder="0" loading="lazy" '
                 'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>'),
    }
    if author:
        body["author_name"] = author
    if thumbnail:
        url, t_width, t_height = thumbnail
        if t_width <= width and t_height <= height or not (q.get("maxwidth") or q.get("maxheight")):
            body.update({"thumbnail_url": base + url if url.startswith("/") else url,
                         "thumbnail_width": t_width, "thumbnail_height": t_height})
    response = json_response(body)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def _describe(request: web.Request, section: str,
                    item_id: str) -> tuple[str, tuple[str, int, int] | None, str | None]:
    """(title, thumbnail (url, w, h) or None, author) as an anonymous visitor sees them."""
    if section == "courses":
        from ..courses.component import component, presented
        from ..courses.service import can_view_course

        course = await component(request).courses.get(item_id)
        if course is None:
            raise NotFound(f"no course {item_id}")
        if not can_view_course(course, None):
            raise Unauthorized("the course is private")
        shown = await presented(request, course)
        return shown["title"], None, None
    record = await request.app[CATALOG].get_record(item_id)
    if record is None or record["kind"] != KIND[section]:
        raise NotFound(f"no {KIND[section]} {item_id}")
    if not can_view(record, None):
        raise Unauthorized(f"the {KIND[section]} is not public")
    (entry,) = await present(request, [record])
    media = entry.get("media") or {}
    thumbnail = None
    renditions = [r for r in media.get("renditions") or [] if r.get("width") and r.get("height")]
    if media.get("poster_small") and renditions:
        top = max(renditions, key=lambda r: r["width"])
        thumbnail = (media["poster_small"], 640, round(640 * top["height"] / top["width"]))
    author = entry["dc"].get("creator") or None
    return entry["title"] or request.app[I18N].translate("en", PROVIDER), thumbnail, author
