"""Embeddable player pages (for iframes) with a playlist beside the video.

Each page sends ``Content-Security-Policy: frame-ancestors`` with the origins the owner allowed
(``'self'`` always; a course's own ``embed_origins``; for videos and collections every origin
the entry's owner allowed on any of their courses). The security middleware leaves
X-Frame-Options off ``/embed/`` paths so that this header is the one rule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..catalog.routes import present
from ..catalog.service import can_view
from ..errors import NotFound
from ..keys import CATALOG, SETTINGS
from ..web.context import viewer
from ..web.openapi import ApiRoutes
from ..web.pages import render

api = ApiRoutes()
HTML: dict[str, Any] = {"response_content": "text/html"}


def embed_csp(frame_ancestors: list[str], extra_sources: list[str]) -> str:
    extra = "".join(" " + s for s in extra_sources)
    ancestors = " ".join(["'self'", *frame_ancestors])
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; "
            f"connect-src 'self'{extra}; frame-ancestors {ancestors}; base-uri 'self'; "
            "form-action 'self'")


def _media_origins(request: web.Request) -> list[str]:
    """Where streams may come from besides this site (CDN, S3 endpoint)."""
    settings = request.app[SETTINGS]
    out = []
    for url in (settings.cdn_base_url, settings.s3_endpoint_url):
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            out.append(f"{parts.scheme}://{parts.netloc}")
    return out


def _item(entry: dict[str, Any], lesson: str | None, resume: float) -> dict[str, Any]:
    media = entry.get("media") or {}
    return {"entry": entry["id"], "lesson": lesson, "title": entry["title"],
            "lang": entry["locale"], "hls": media.get("hls"), "dash": media.get("dash"),
            "poster": media.get("poster"), "duration": media.get("duration"),
            "captions": [c for c in media.get("captions") or [] if c.get("url")],
            "chapters": [{"start": c["start"], "title": c["title"]} for c in entry["chapters"]],
            "resume": round(resume, 1), "url": entry["url"]}


async def _resume_by_entry(request: web.Request, entries: list[dict[str, Any]]) -> dict[str, float]:
    from ..courses.component import component

    user = viewer(request)
    if user is None:
        return {}
    queries = component(request).queries
    out = {}
    for entry in entries:
        row = await queries.latest_for_entry(user.id, entry["id"])
        if row is not None and row["completed_at"] is None:
            out[entry["id"]] = float(row["position"])
    return out


def _page(request: web.Request, *, title: str, items: list[dict[str, Any]], kind: str,
          origins: list[str], language: str | None, heartbeats: bool) -> web.Response:
    response = render(request, "embed.html", title=title, items=items, kind=kind,
                      language=language, heartbeats=heartbeats,
                      caption_langs=sorted({c["lang"] for i in items for c in i["captions"]}))
    response.headers["Content-Security-Policy"] = embed_csp(origins, _media_origins(request))
    response.headers["Cache-Control"] = "private, no-cache"
    return response


async def _entry(request: web.Request, kind: str) -> dict[str, Any]:
    record = await request.app[CATALOG].get_visible(request.match_info["id"], viewer(request))
    if record["kind"] != kind:
        raise NotFound(f"no {kind} {request.match_info['id']}")
    return record


@api.get("/embed/videos/{id}", summary="Embeddable player for one video", tag="embed", **HTML,
         errors=(404,))
async def embed_video(request: web.Request) -> web.Response:
    from ..courses.component import component

    record = await _entry(request, "video")
    (entry,) = await present(request, [record])
    resume = await _resume_by_entry(request, [entry])
    origins = await component(request).courses.owner_origins(record["owner"])
    return _page(request, title=entry["title"], items=[_item(entry, None, resume.get(entry["id"], 0))],
                 kind="video", origins=origins, language=entry["locale"], heartbeats=False)


@api.get("/embed/collections/{id}", summary="Embeddable player for a collection's videos",
         tag="embed", **HTML, errors=(404,))
async def embed_collection(request: web.Request) -> web.Response:
    from ..courses.component import component

    record = await _entry(request, "collection")
    catalog = request.app[CATALOG]
    (collection,) = await present(request, [record])
    ids = [item["entry"] for item in record["items"]]
    found = await catalog.titles(ids)
    who = viewer(request)
    videos = [found[i] for i in dict.fromkeys(ids)
              if i in found and found[i]["kind"] == "video" and can_view(found[i], who)]
    entries = await present(request, videos)
    resume = await _resume_by_entry(request, entries)
    origins = await component(request).courses.owner_origins(record["owner"])
    return _page(request, title=collection["title"], kind="collection", origins=origins,
                 items=[_item(e, None, resume.get(e["id"], 0)) for e in entries],
                 language=collection["locale"], heartbeats=False)


@api.get("/embed/courses/{id}", summary="Embeddable player for a course's video lessons",
         tag="embed", **HTML, errors=(404,))
async def embed_course(request: web.Request) -> web.Response:
    from ..courses.component import component, presented
    from ..courses.service import all_lessons

    parts = component(request)
    who = viewer(request)
    course = await parts.courses.get_visible(request.match_info["id"], who)
    shown = await presented(request, course)
    lessons = all_lessons(course)
    found = await request.app[CATALOG].titles({lesson["entry"] for lesson in lessons})
    visible = [(lesson, found[lesson["entry"]]) for lesson in lessons
               if lesson["entry"] in found and found[lesson["entry"]]["kind"] == "video"
               and can_view(found[lesson["entry"]], who)]
    entries = {e["id"]: e for e in await present(request, [r for _, r in visible])}
    enrolled = who is not None and await parts.courses.is_enrolled(course["id"], who.id)
    rows = (await parts.queries.rows(course["id"], [who.id])).get(who.id, {}) \
        if who is not None and enrolled else {}
    titles = {lesson["id"]: lesson["title"] for m in shown["modules"] for lesson in m["lessons"]}
    items = []
    for lesson, record in visible:
        row = rows.get(lesson["id"])
        resume = float(row["position"]) if row and row["completed_at"] is None else 0.0
        item = _item(entries[record["id"]], lesson["id"], resume)
        item["title"] = titles.get(lesson["id"], item["title"])
        items.append(item)
    return _page(request, title=shown["title"], kind="course", origins=course["embed_origins"],
                 items=items, language=shown["locale"], heartbeats=enrolled)

