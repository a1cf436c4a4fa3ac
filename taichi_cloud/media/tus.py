"""tus 1.0.0 at ``/api/v1/uploads``: core, creation, creation-with-upload, termination,
checksum (sha1, md5, sha256) and expiration. The storage side lives in ``uploads.py``.

Every response under ``/api/v1/uploads`` carries ``Tus-Resumable`` (errors too) and the CORS
headers a browser client on another origin needs; see :func:`tus_response_headers`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator
from email.utils import format_datetime

from aiohttp import web

from ..errors import Invalid, PreconditionFailed, UnsupportedMedia
from ..keys import MEDIA
from ..util import parse_iso
from ..web.context import viewer
from ..web.openapi import ApiRoutes
from .uploads import CHECKSUMS, Uploads

api = ApiRoutes()

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
UPLOADERS = ("curator", "reviewer")
PREFIX = "/api/v1/uploads"
METADATA_KEYS = ("filename", "filetype", "entry")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ALLOW_HEADERS = ("Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Metadata, "
                 "Upload-Offset, Upload-Checksum, Upload-Defer-Length, Upload-Concat, "
                 "X-Requested-With, X-HTTP-Method-Override, X-CSRF-Token, X-Request-Id")
EXPOSE_HEADERS = ("Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, "
                  "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
                  "Tus-Checksum-Algorithm, Taichi-Media-Id, Taichi-Entry-Id")
UPLOADS_KEY: web.AppKey[Uploads] = web.AppKey("uploads", Uploads)
BINARY = {"type": "string", "format": "binary"}


async def tus_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: tus and CORS headers on every upload response, errors included."""
    if not request.path.startswith(PREFIX):
        return
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers.setdefault("Tus-Version", TUS_VERSION)
    if "Origin" in request.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def _uploads(request: web.Request) -> Uploads:
    return request.app[UPLOADS_KEY]


def _require_tus(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise PreconditionFailed(f"send Tus-Resumable: {TUS_VERSION}", field="Tus-Resumable")


def _int_header(request: web.Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 19:
        raise Invalid(f"{name} must be a non-negative integer", field=name)
    return int(raw)


def parse_metadata(raw: str) -> dict[str, str]:
    """``Upload-Metadata``: ``key base64,key base64``; keeps the keys we know, sanitised."""
    if len(raw) > 4096:
        raise Invalid("Upload-Metadata is too long", field="Upload-Metadata")
    values: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, _, encoded = pair.partition(" ")
        if not key.isascii() or not key.isprintable() or " " in key:
            raise Invalid(f"Upload-Metadata key {key!r} is not valid", field="Upload-Metadata")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Invalid(f"Upload-Metadata {key}: not base64 of UTF-8 text",
                          field="Upload-Metadata") from None
        if key in METADATA_KEYS:
            values[key] = value
    if "filename" in values:  # a label only: never used as a path
        name = _CONTROL.sub("", values["filename"].replace("\\", "/").rsplit("/", 1)[-1]).strip()
        values["filename"] = name[:255].strip(". ") or "upload"
    if "filetype" in values:
        values["filetype"] = _CONTROL.sub("", values["filetype"])[:120]
    if "entry" in values and not _ENTRY_ID.match(values["entry"]):
        raise Invalid("Upload-Metadata entry is not an entry id", field="entry")
    return values


def _checksum(request: web.Request) -> tuple[str, bytes] | None:
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise Invalid(f"Upload-Checksum algorithm {algorithm!r} is not supported "
                      f"(use {', '.join(CHECKSUMS)})", field="Upload-Checksum")
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise Invalid("Upload-Checksum is not base64", field="Upload-Checksum") from None


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_any():
        yield chunk


def _state_headers(row: dict[str, object]) -> dict[str, str]:
    headers = {"Upload-Offset": str(row["offset"]), "Cache-Control": "no-store",
               "Taichi-Media-Id": str(row["media_id"])}
    if not row["completed"]:
        headers["Upload-Expires"] = format_datetime(parse_iso(str(row["expires_at"])), usegmt=True)
    if row.get("entry_id"):
        headers["Taichi-Entry-Id"] = str(row["entry_id"])
    return headers


@api.route("OPTIONS", PREFIX, summary="tus capabilities (and CORS preflight)", tag="uploads",
           status=204, errors=())
async def tus_options(request: web.Request) -> web.Response:
    headers = {"Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
               "Tus-Max-Size": str(_uploads(request).max_bytes),
               "Tus-Checksum-Algorithm": ",".join(CHECKSUMS)}
    if "Access-Control-Request-Method" in request.headers:
        headers.update({"Access-Control-Allow-Methods": "POST, HEAD, PATCH, DELETE, OPTIONS",
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": "86400"})
    return web.Response(status=204, headers=headers)


api.route("OPTIONS", PREFIX + "/{id}", summary="tus capabilities of one upload (and CORS "
          "preflight)", tag="uploads", status=204, errors=())(tus_options)


@api.post(PREFIX, summary="Create an upload (tus creation, creation-with-upload)", tag="uploads",
          roles=UPLOADERS, body=BINARY, body_content=OFFSET_CONTENT_TYPE, status=201,
          errors=(400, 404, 409, 412, 413, 415, 460),
          description="Headers: Tus-Resumable, Upload-Length, Upload-Metadata (filename, "
                      "filetype, entry), optionally Upload-Checksum with a first chunk.")
async def create_upload(request: web.Request) -> web.Response:
    _require_tus(request)
    user = viewer(request)
    assert user is not None
    if "Upload-Defer-Length" in request.headers:
        raise Invalid("Upload-Defer-Length is not supported; send Upload-Length",
                      field="Upload-Defer-Length")
    length = _int_header(request, "Upload-Length")
    raw_metadata = request.headers.get("Upload-Metadata", "")
    uploads = _uploads(request)
    row = await uploads.create(user, length, parse_metadata(raw_metadata), raw_metadata)
    has_body = request.content_length not in (None, 0) or request.body_exists
    if has_body and request.content_type == OFFSET_CONTENT_TYPE:
        row = await uploads.append(row["id"], user, 0, _body(request), _checksum(request))
    elif length == 0:
        row = await uploads.append(row["id"], user, 0, _body(request), None)
    headers = {"Location": f"{PREFIX}/{row['id']}", **_state_headers(row)}
    return web.Response(status=201, headers=headers)


@api.route("HEAD", PREFIX + "/{id}", summary="The offset of an upload (tus core)", tag="uploads",
           roles=UPLOADERS, errors=(404, 410, 412))
async def upload_offset(request: web.Request) -> web.Response:
    _require_tus(request)
    user = viewer(request)
    assert user is not None
    row = await _uploads(request).get(request.match_info["id"], user)
    headers = {"Upload-Length": str(row["length"]), **_state_headers(row)}
    if row["raw_metadata"]:
        headers["Upload-Metadata"] = str(row["raw_metadata"])
    return web.Response(status=200, headers=headers)


@api.patch(PREFIX + "/{id}", summary="Append bytes at Upload-Offset (tus core, checksum)",
           tag="uploads", roles=UPLOADERS, body=BINARY, body_content=OFFSET_CONTENT_TYPE,
           status=204, errors=(400, 404, 409, 410, 412, 413, 415, 460))
async def append_upload(request: web.Request) -> web.Response:
    _require_tus(request)
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise UnsupportedMedia(f"PATCH bodies are {OFFSET_CONTENT_TYPE}")
    user = viewer(request)
    assert user is not None
    offset = _int_header(request, "Upload-Offset")
    row = await _uploads(request).append(request.match_info["id"], user, offset, _body(request),
                                         _checksum(request))
    return web.Response(status=204, headers=_state_headers(row))


@api.delete(PREFIX + "/{id}", summary="Abandon an upload (tus termination)", tag="uploads",
            roles=UPLOADERS, status=204, errors=(404, 410, 412))
async def terminate_upload(request: web.Request) -> web.Response:
    _require_tus(request)
    user = viewer(request)
    assert user is not None
    await _uploads(request).terminate(request.match_info["id"], user)
    return web.Response(status=204)


def make_uploads(app: web.Application) -> Uploads:
    from ..keys import ACCOUNTS, DB, SETTINGS

    settings = app[SETTINGS]
    return Uploads(app[DB], app[MEDIA], app[ACCOUNTS], settings.data_path / "uploads",
                   settings.max_upload_bytes, settings.upload_expiry_hours)
