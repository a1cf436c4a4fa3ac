"""kill -9 of a real ``taichi-cloud serve`` in the middle of a tus upload loses no acknowledged
byte: after a restart HEAD reports at least every offset a PATCH was answered with, the bytes
on disk are the bytes sent, and the upload resumes to a ready media."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.media_helpers import TUS, clip, sha1_header

CHUNK = 64 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TAICHI_CLOUD_STORAGE_URL": f"file://{tmp_path / 'media'}",
           "TAICHI_CLOUD_SECRET_KEY": "crash-test"}
    return subprocess.Popen(
        [sys.executable, "-m", "taichi_cloud", "--data-dir", str(tmp_path / "data"), "serve",
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_up(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(300):
        try:
            async with session.get(base + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not come up")


def _add_curator(tmp_path: Path) -> str:
    """A curator account and token, made with the CLI against the same data dir."""
    subprocess.run([sys.executable, "-m", "taichi_cloud", "--data-dir", str(tmp_path / "data"),
                    "users", "add", "crash@example.org", "--role", "curator", "--password-stdin"],
                   input=b"correct horse battery\n", check=True, capture_output=True, timeout=60)
    return "crash@example.org"


@pytest.mark.timeout(180)
async def test_kill_9_during_an_upload_keeps_acknowledged_offsets(tmp_path: Path) -> None:
    data = clip(tmp_path / "archive.mp4", seconds=3.0, size="640x360").read_bytes()
    assert len(data) > 4 * CHUNK
    email = _add_curator(tmp_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_up(session, base)
            async with session.post(base + "/api/v1/auth/login", json={
                    "email": email, "password": "correct horse battery"}) as response:
                token = (await response.json())["token"]
            auth = {"Authorization": f"Bearer {token}", **TUS}
            async with session.post(base + "/api/v1/uploads", headers={
                    **auth, "Upload-Length": str(len(data))}) as response:
                assert response.status == 201
                location = base + response.headers["Location"]
            acknowledged = 0
            for _ in range(3):
                piece = data[acknowledged:acknowledged + CHUNK]
                async with session.patch(location, data=piece, headers={
                        **auth, "Upload-Offset": str(acknowledged),
                        "Content-Type": "application/offset+octet-stream"}) as response:
                    assert response.status == 204
                    acknowledged = int(response.headers["Upload-Offset"])
            # A fourth PATCH is under way (half sent) when the server is killed.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write((f"PATCH {location[len(base):]} HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
                          f"Content-Type: application/offset+octet-stream\r\n"
                          f"Upload-Offset: {acknowledged}\r\nContent-Length: {CHUNK}\r\n\r\n").encode()
                         + data[acknowledged:acknowledged + CHUNK // 2])
            await writer.drain()
            await asyncio.sleep(0.2)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            writer.close()

        server = _serve(tmp_path, port)
        async with aiohttp.ClientSession() as session:
            await _wait_up(session, base)
            async with session.head(location, headers=auth) as response:
                assert response.status == 200
                offset = int(response.headers["Upload-Offset"])
            assert acknowledged <= offset <= acknowledged + CHUNK // 2
            part = tmp_path / "data" / "uploads" / f"{location.rsplit('/', 1)[1]}.part"
            assert part.read_bytes()[:offset] == data[:offset]
            rest = data[offset:]
            async with session.patch(location, data=rest, headers={
                    **auth, "Upload-Offset": str(offset), "Upload-Checksum": sha1_header(rest),
                    "Content-Type": "application/offset+octet-stream"}) as response:
                assert response.status == 204, await response.text()
                media_id = response.headers["Taichi-Media-Id"]
            for _ in range(600):
                async with session.get(f"{base}/api/v1/media/{media_id}", headers=auth) as response:
                    media = await response.json()
                if media["status"] in ("ready", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert media["status"] == "ready", media["error"]
            assert media["size"] == len(data)
    finally:
        server.kill()
        server.wait(timeout=10)
