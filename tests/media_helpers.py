"""Helpers for the upload, stream, job and media API tests: clips, tus requests, waiting."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from taichi_cloud.media.samples import make_test_clip
from taichi_cloud.media.tools import ffmpeg_binary

Client = TestClient[web.Request, web.Application]
TUS = {"Tus-Resumable": "1.0.0"}


def clip(path: Path, **options: Any) -> Path:
    """A short real clip (2 s, 320x240 by default) made with lavfi."""
    options.setdefault("seconds", 2.0)
    options.setdefault("size", "320x240")
    return make_test_clip(path, **options)


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha1_header(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


async def tus_upload(client: Client, headers: dict[str, str], data: bytes, *,
                     chunk: int = 256 * 1024, **meta: str) -> dict[str, str]:
    """Upload ``data`` with raw tus requests; returns the final response's headers."""
    created = await client.post("/api/v1/uploads", headers={
        **headers, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**meta)})
    assert created.status == 201, await created.text()
    location = created.headers["Location"]
    offset = 0
    last: dict[str, str] = dict(created.headers)
    while offset < len(data):
        piece = data[offset:offset + chunk]
        response = await client.patch(location, data=piece, headers={
            **headers, **TUS, "Upload-Offset": str(offset), "Upload-Checksum": sha1_header(piece),
            "Content-Type": "application/offset+octet-stream"})
        assert response.status == 204, await response.text()
        offset = int(response.headers["Upload-Offset"])
        last = dict(response.headers)
    last["Location"] = location
    return last


async def wait_for_media(client: Client, media_id: str, headers: dict[str, str] | None = None,
                         seconds: float = 90.0) -> dict[str, Any]:
    """Poll ``GET /api/v1/media/{id}`` until it is ready or failed."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await client.get(f"/api/v1/media/{media_id}", headers=headers or {})
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        if body["status"] in ("ready", "failed"):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still {body['status']}"
        await asyncio.sleep(0.2)


def decode_errors(path: Path) -> str:
    """stderr of a full ffmpeg decode of ``path`` (empty means it decoded cleanly)."""
    result = subprocess.run([ffmpeg_binary(), "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stderr.strip()
