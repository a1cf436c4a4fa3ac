"""HTTP routes of media: status JSON, server-sent progress events, captions upload."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..errors import Invalid, TooLarge, UnsupportedMedia
from ..i18n import normalize_tag
from ..keys import MEDIA, QUERY
from ..web.context import json_response, viewer
from ..web.openapi import ApiRoutes
from .captions import MAX_CAPTION_BYTES
from .service import FINAL_STATUSES, MediaService

api = ApiRoutes()

EVENT_POLL_SECONDS = 0.25
EVENT_KEEPALIVE_SECONDS = 15.0
EVENT_STREAM_SECONDS = 600.0
EVENT_RETRY_MS = 2000
STATUSES = ["uploaded", "probing", "transcoding", "ready", "failed"]
URL = {"type": ["string", "null"]}
MEDIA_OUT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "entry", "status", "progress", "error", "duration", "renditions", "hls",
                 "dash", "poster", "storyboard", "captions"],
    "properties": {
        "id": {"type": "string"}, "entry": {"type": ["string", "null"]},
        "status": {"enum": STATUSES}, "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "error": {"type": ["string", "null"]}, "duration": {"type": ["number", "null"]},
        "renditions": {"type": "array", "items": {"type": "object", "properties": {
            "width": {"type": ["integer", "null"]}, "height": {"type": ["integer", "null"]},
            "bandwidth": {"type": "integer"}, "codecs": {"type": "string"}}}},
        "hls": URL, "dash": URL, "poster": URL, "storyboard": URL,
        "captions": {"type": "array", "items": {"type": "object", "properties": {
            "lang": {"type": "string"}, "url": URL}}},
        "images": {"type": "array", "description": "archive photos and scans: each width",
                   "items": {"type": "object", "properties": {
                       "url": URL, "width": {"type": "integer"}, "height": {"type": "integer"},
                       "type": {"type": "string"}}}},
    },
}
COMPONENTS = {"Media": MEDIA_OUT}
MEDIA_REF = {"$ref": "#/components/schemas/Media"}
CAPTION_TYPES = ("text/vtt", "application/x-subrip", "text/srt", "text/plain",
                 "application/octet-stream")


def _service(request: web.Request) -> MediaService:
    service: MediaService = request.app[MEDIA]
    return service


@api.get("/api/v1/media/{id}", summary="Status, renditions and stream URLs of a media asset",
         tag="media", response=MEDIA_REF, errors=(404,),
         description="Private and unlisted media get stream URLs carrying a signed, expiring "
                     "?token= that opens every file of the stream.")
async def get_media(request: web.Request) -> web.Response:
    service = _service(request)
    asset, record = await service.visible_record(request.match_info["id"], viewer(request))
    return json_response(await service.describe(asset, record),
                         headers={"Cache-Control": "no-store"})


@api.get("/api/v1/media/{id}/events", summary="Server-sent events with status and progress "
         "until the media is ready or failed", tag="media", response_content="text/event-stream",
         errors=(404,))
async def media_events(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    media_id = request.match_info["id"]
    who = viewer(request)
    asset, record = await service.visible_record(media_id, who)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    last: tuple[Any, ...] | None = None
    quiet = 0.0
    number = 0
    # One stream lives at most EVENT_STREAM_SECONDS; EventSource reconnects by itself ("retry").
    deadline = asyncio.get_running_loop().time() + EVENT_STREAM_SECONDS
    await response.write(f"retry: {EVENT_RETRY_MS}\n\n".encode())
    while asyncio.get_running_loop().time() < deadline:
        state = (asset["status"], round(float(asset["progress"] or 0), 3), asset["error"])
        if state != last:
            last, quiet, number = state, 0.0, number + 1
            event = "status" if asset["status"] not in FINAL_STATUSES else asset["status"]
            data = await service.describe(asset, record) if event == "ready" else {
                "id": media_id, "status": state[0], "progress": state[1], "error": state[2]}
            await response.write(f"id: {number}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode())
            if asset["status"] in FINAL_STATUSES:
                break
        elif quiet >= EVENT_KEEPALIVE_SECONDS:
            await response.write(b": keep-alive\n\n")
            quiet = 0.0
        await asyncio.sleep(EVENT_POLL_SECONDS)
        quiet += EVENT_POLL_SECONDS
        fresh = await service.get_asset(media_id)
        if fresh is None:
            break
        asset = fresh
    await response.write_eof()
    return response


@api.post("/api/v1/media/{id}/captions", summary="Add or replace captions in one language "
          "(WebVTT or SRT body; stored as sanitized WebVTT and declared in HLS and DASH)",
          tag="media", roles=("curator", "reviewer"),
          query={"lang": {"type": "string", "maxLength": 35}},
          body={"type": "string"}, body_content="text/vtt", response=MEDIA_REF, status=201,
          errors=(400, 404, 413, 415))
async def add_captions(request: web.Request) -> web.Response:
    lang_raw = request[QUERY].get("lang")
    if not lang_raw:
        raise Invalid("name the captions' language with ?lang=TAG", field="lang")
    lang = normalize_tag(lang_raw)
    if request.content_type not in CAPTION_TYPES:
        raise UnsupportedMedia(f"send the captions as text/vtt or application/x-subrip, not "
                               f"{request.content_type}", field="Content-Type")
    if request.content_length is not None and request.content_length > MAX_CAPTION_BYTES:
        raise TooLarge(f"caption files are limited to {MAX_CAPTION_BYTES} bytes")
    data = await request.content.read(MAX_CAPTION_BYTES + 1)
    if len(data) > MAX_CAPTION_BYTES:
        raise TooLarge(f"caption files are limited to {MAX_CAPTION_BYTES} bytes")
    who = viewer(request)
    assert who is not None
    media = await _service(request).add_captions(request.match_info["id"], lang, data, who)
    return json_response(media, status=201)
