"""tus 1.0.0 uploads at /api/v1/uploads, through real HTTP, with real ffmpeg behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MakeUser, problem
from tests.media_helpers import TUS, Client, clip, metadata, sha1_header, tus_upload, wait_for_media


async def test_upload_becomes_ready_media_on_a_new_draft_entry(client: Client, make_user: MakeUser,
                                                               tmp_path: Path) -> None:
    curator = await make_user("curator")
    data = clip(tmp_path / "form.mp4").read_bytes()
    headers = await tus_upload(client, curator.headers, data, filename="form.mp4",
                               filetype="video/mp4")
    media_id, entry_id = headers["Taichi-Media-Id"], headers["Taichi-Entry-Id"]
    entry = await (await client.get(f"/api/v1/entries/{entry_id}", headers=curator.headers)).json()
    assert entry["status"] == "draft" and entry["kind"] == "video" and entry["title"] == "form.mp4"
    assert entry["media"]["id"] == media_id
    media = await wait_for_media(client, media_id, curator.headers)
    assert media["status"] == "ready", media["error"]
    assert media["duration"] == pytest.approx(2.0, abs=0.2)
    assert media["hls"].startswith(f"/streams/{media_id}/master.m3u8?token=")
