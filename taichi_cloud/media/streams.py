"""``/streams/{id}/...``: the published ladder, straight from the BlobStore.

Local files go out through ``web.FileResponse`` (sendfile, byte ranges, ETag / If-None-Match,
Last-Modified). With a remote store (S3) segments, posters and captions are a 302 to a presigned
URL or to ``CDN_BASE_URL``; playlists and the MPD are proxied (they are small and rewritten). Only the published directory of a *ready* asset is reachable, so a partial
ladder is never served.

Private and unlisted media need ``?token=`` (see ``service.StreamTokens``): one token, scoped
to the media id, opens every file below it. Players resolve relative URIs and drop the query,
so playlists, the MPD and the storyboard track fetched with a token are rewritten to carry it
on every URI they name.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from aiohttp import web

from ..errors import Forbidden, NotFound
from ..keys import MEDIA
from ..storage.keys import stream_key
from ..web.openapi import ApiRoutes
from .service import MediaService

api = ApiRoutes()

SEGMENT_CACHE = "public, max-age=31536000, immutable"
MANIFEST_CACHE = "public, max-age=5"
TRACK_CACHE = "public, max-age=60"
IMAGE_CACHE = "public, max-age=3600"
REDIRECT_SECONDS = 3600  # lifetime of a presigned segment URL
REDIRECT_CACHE = "private, max-age=300"
CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag, "
                                         "Last-Modified, Date",
        "Timing-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}
PREFLIGHT = {"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
             "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, If-Range",
             "Access-Control-Max-Age": "86400"}
_QUERY_SAFE_TOKEN = re.compile(r"^[0-9]+\.[A-Za-z0-9_-]+$")
_URI_ATTRIBUTE = re.compile(r'URI="([^"]+)"')
_MPD_URL = re.compile(r'\b(initialization|media)="([^"]+)"')
_MPD_BASE = re.compile(r"<BaseURL>([^<]+)</BaseURL>")


def content_type(name: str) -> tuple[str, str]:
    """(MIME type, Cache-Control) of a file in a stream directory."""
    suffix = PurePosixPath(name).suffix
    if suffix == ".m3u8":
        return "application/vnd.apple.mpegurl", MANIFEST_CACHE
    if suffix == ".mpd":
        return "application/dash+xml", MANIFEST_CACHE
    if suffix == ".m4s":
        base = PurePosixPath(name).name
        return ("video/mp4" if base.startswith("init-") else "video/iso.segment"), SEGMENT_CACHE
    if suffix == ".vtt":
        return "text/vtt; charset=utf-8", TRACK_CACHE
    if suffix in (".jpg", ".jpeg"):
        return "image/jpeg", IMAGE_CACHE
    if suffix == ".webp":
        return "image/webp", IMAGE_CACHE
    return "application/octet-stream", MANIFEST_CACHE


def _with_token(uri: str, token: str) -> str:
    if uri.startswith(("/", "data:")) or "://" in uri:
        return uri
    path, hash_mark, fragment = uri.partition("#")
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}token={token}{hash_mark}{fragment}"


def tokenize_playlist(text: str, token: str) -> str:
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = _with_token(line.strip(), token)
        elif "URI=\"" in line:
            line = _URI_ATTRIBUTE.sub(lambda m: f'URI="{_with_token(m.group(1), token)}"', line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def tokenize_mpd(text: str, token: str) -> str:
    text = _MPD_URL.sub(lambda m: f'{m.group(1)}="{_with_token(m.group(2), token)}"', text)
    return _MPD_BASE.sub(lambda m: f"<BaseURL>{_with_token(m.group(1), token)}</BaseURL>", text)


def tokenize_storyboard(text: str, token: str) -> str:
    return "\n".join(_with_token(line, token) if "#xywh=" in line else line
                     for line in text.split("\n"))


def _rewriter(name: str) -> object:
    if name.endswith(".m3u8"):
        return tokenize_playlist
    if name.endswith(".mpd"):
        return tokenize_mpd
    if name.endswith("storyboard.vtt"):
        return tokenize_storyboard
    return None


async def _serve(request: web.Request, name: str) -> web.StreamResponse:
    media_id = request.match_info["id"]
    service: MediaService = request.app[MEDIA]
    key = stream_key(media_id, name) if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", media_id) else None
    if key is None:
        raise NotFound(f"no stream file {name}")
    token = request.query.get("token")
    if not await service.may_stream(media_id, request, token):
        if await service.get_asset(media_id) is None:
            raise NotFound(f"no media {media_id}")
        raise Forbidden("this media needs a valid, unexpired ?token= (from GET /api/v1/media/{id})")
    mime, cache = content_type(name)
    headers = {"Content-Type": mime, "Cache-Control": cache, **CORS}
    rewrite = _rewriter(name) if token and _QUERY_SAFE_TOKEN.match(token) else None
    if rewrite is not None:
        data = await service.store.get_bytes(key)
        if data is None:
            raise NotFound(f"no stream file {name}")
        body = rewrite(data.decode("utf-8"), token).encode()  # type: ignore[operator]
        return _bytes_response(request, body, headers)
    path = service.store.local_path(key)
    if path is not None:
        return web.FileResponse(path, headers=headers)
    if _rewriter(name) is None:
        # Remote store: the player fetches segments, posters and captions from the object
        # store (presigned) or the CDN. Access was checked above; the target names an
        # unguessable version. Manifests are proxied so their relative URIs stay ours.
        url = await service.store.url_for(key, expires=REDIRECT_SECONDS)
        if url is not None:
            return web.Response(status=302, headers={
                "Location": url, "Cache-Control": REDIRECT_CACHE, **CORS})
    data = await service.store.get_bytes(key)
    if data is None:
        raise NotFound(f"no stream file {name}")
    return _bytes_response(request, data, headers)


def _bytes_response(request: web.Request, body: bytes, headers: dict[str, str]) -> web.Response:
    etag = '"' + hashlib.sha1(body).hexdigest()[:24] + '"'
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={**headers, "ETag": etag})
    response = web.Response(body=body, headers={**headers, "ETag": etag})
    return response


@api.get("/streams/{id}/master.m3u8", summary="HLS master playlist", tag="streams",
         response_content="application/vnd.apple.mpegurl", query={"token": {"type": "string"}},
         errors=(403, 404))
async def hls_master(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "master.m3u8")


@api.get("/streams/{id}/manifest.mpd", summary="DASH manifest (same CMAF segments as HLS)",
         tag="streams", response_content="application/dash+xml",
         query={"token": {"type": "string"}}, errors=(403, 404))
async def dash_manifest(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "manifest.mpd")


@api.get("/streams/{id}/{path:[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)?}",
         summary="Media playlists, init and media segments, posters, storyboard, captions "
                 "(byte ranges, ETags)", tag="streams",
         response_content="application/octet-stream", query={"token": {"type": "string"}},
         errors=(403, 404))
async def stream_file(request: web.Request) -> web.StreamResponse:
    return await _serve(request, request.match_info["path"])


@api.route("OPTIONS", "/streams/{id}/{path:.*}", summary="CORS preflight for players",
           tag="streams", status=204, errors=())
async def stream_preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={**CORS, **PREFLIGHT})
