"""GET /api/v1/media/{id}, its server-sent events, captions, hostile uploads, cancellation,
crash recovery of a claimed job, the demo clips and the ingest command."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import m3u8
import pytest

from taichi_cloud.jobs import JOB_KINDS, WORKER, Worker
from taichi_cloud.keys import MEDIA, QUEUE
from taichi_cloud.media.service import PROCESS_JOB, process_job_id
from tests.conftest import MakeUser
from tests.media_helpers import TUS, Client, clip, metadata, tus_upload, wait_for_media

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SRT = """1
00:00:00,200 --> 00:00:01,000
<script>alert(1)</script>起勢 <b>Commencement</b>

2
00:00:01,000 --> 00:00:01,900
攬雀尾
"""
VTT = "WEBVTT\n\n00:00.100 --> 00:01.500\nCommencement\n"


async def _upload(client: Client, headers: dict[str, str], data: bytes, **meta: str) -> str:
    return (await tus_upload(client, headers, data, **meta))["Taichi-Media-Id"]


async def test_media_json_sse_events_and_captions(client: Client, make_user: MakeUser,
                                                  tmp_path: Path) -> None:
    curator, learner = await make_user("curator"), await make_user("learner")
    media_id = await _upload(client, curator.headers, clip(tmp_path / "c.mp4").read_bytes(),
                             filename="c.mp4")
    early = await client.post(f"/api/v1/media/{media_id}/captions?lang=en", data=VTT.encode(),
                              headers={**curator.headers, "Content-Type": "text/vtt"})
    assert early.status == 201, await early.text()

    events: list[tuple[str, dict[str, Any]]] = []
    async with client.get(f"/api/v1/media/{media_id}/events", headers=curator.headers) as stream:
        assert stream.content_type == "text/event-stream"
        name = ""
        async for raw in stream.content:
            line = raw.decode().strip()
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    statuses = [data["status"] for _, data in events]
    assert statuses[-1] == "ready" and events[-1][0] == "ready"
    order = ["uploaded", "probing", "transcoding", "ready"]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)
    progress = [data["progress"] for _, data in events]
    assert progress == sorted(progress) and progress[-1] == 1.0

    media = (await (await client.get(f"/api/v1/media/{media_id}", headers=curator.headers)).json())
    assert set(media) >= {"id", "entry", "status", "progress", "error", "duration", "renditions",
                          "hls", "dash", "poster", "storyboard", "captions"}
    assert [c["lang"] for c in media["captions"]] == ["en"]  # posted before ready, published with it

    refused = await client.post(f"/api/v1/media/{media_id}/captions?lang=zh-Hant", data=SRT.encode(),
                                headers={**learner.headers, "Content-Type": "application/x-subrip"})
    assert refused.status == 403
    bad = await client.post(f"/api/v1/media/{media_id}/captions?lang=zh-Hant", data=b"not captions",
                            headers={**curator.headers, "Content-Type": "text/vtt"})
    assert bad.status == 400
    added = await client.post(f"/api/v1/media/{media_id}/captions?lang=zh-hant", data=SRT.encode(),
                              headers={**curator.headers, "Content-Type": "application/x-subrip"})
    assert added.status == 201
    media = await added.json()
    assert [c["lang"] for c in media["captions"]] == ["en", "zh-Hant"]
    vtt = await (await client.get(media["captions"][1]["url"])).text()
    assert vtt.startswith("WEBVTT") and "<script>" not in vtt and "攬雀尾" in vtt
    master = m3u8.loads(await (await client.get(media["hls"])).text())
    subtitles = {m.language: m.uri for m in master.media if m.type == "SUBTITLES"}
    assert set(subtitles) == {"en", "zh-Hant"}
    base = f"/streams/{media_id}/"
    track = await (await client.get(base + subtitles["zh-Hant"])).text()
    assert "zh-Hant.vtt" in track
    mpd = await (await client.get(media["dash"])).text()
    assert 'mimeType="text/vtt"' in mpd and 'lang="zh-Hant"' in mpd
    texts = await client.app[MEDIA].captions_text(media_id)
    assert [t["lang"] for t in texts] == ["en", "zh-Hant"] and "Commencement" in texts[0]["text"]
    assert await client.app[MEDIA].duration(media_id) == pytest.approx(2.0, abs=0.2)
    entry = await (await client.get(f"/api/v1/entries/{media['entry']}", headers=curator.headers)).json()
    assert entry["media"]["status"] == "ready" and entry["media"]["hls"]


@SQLITE_ONLY
async def test_hostile_uploads_fail_with_a_reason(client: Client, make_user: MakeUser,
                                                  tmp_path: Path) -> None:
    curator = await make_user("curator")
    whole = clip(tmp_path / "whole.mp4").read_bytes()
    hostile = {
        "playlist.mp4": b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
        "concat.mov": b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        "notes.mp4": b"This is a text file about Tai Chi, not a video at all.\n" * 20,
        "truncated.mp4": whole[: len(whole) // 2],
    }
    ids = {name: await _upload(client, curator.headers, data, filename=name)
           for name, data in hostile.items()}
    for name, media_id in ids.items():
        media = await wait_for_media(client, media_id, curator.headers)
        assert media["status"] == "failed", name
        assert media["error"] and "passwd" not in media["error"], (name, media["error"])
        assert media["hls"] is None
        assert (await client.get(f"/streams/{media_id}/master.m3u8")).status in (403, 404)
    assert "playlist" in (await wait_for_media(client, ids["playlist.mp4"], curator.headers))["error"]


@SQLITE_ONLY
async def test_deleting_the_entry_cancels_its_transcode(client: Client, make_user: MakeUser,
                                                        tmp_path: Path) -> None:
    curator = await make_user("curator")
    data = clip(tmp_path / "long.mp4", seconds=30.0, size="1280x720").read_bytes()
    final = await tus_upload(client, curator.headers, data, filename="long.mp4")
    media_id, entry_id = final["Taichi-Media-Id"], final["Taichi-Entry-Id"]
    for _ in range(200):
        media = await (await client.get(f"/api/v1/media/{media_id}", headers=curator.headers)).json()
        if media["status"] == "transcoding":
            break
        await asyncio.sleep(0.05)
    assert media["status"] == "transcoding"
    assert (await client.delete(f"/api/v1/entries/{entry_id}", headers=curator.headers)).status == 204
    queue = client.app[QUEUE]
    job = await queue.get(process_job_id(media_id))
    assert job is not None and job.state == "cancelled"
    asset = await client.app[MEDIA].get_asset(media_id)
    assert asset["status"] == "failed" and "deleted" in asset["error"]
    for _ in range(100):  # the worker lets go of it (ffmpeg killed) and takes new work
        if client.app[WORKER].busy == 0:
            break
        await asyncio.sleep(0.05)
    assert client.app[WORKER].busy == 0
    assert (await client.get(f"/api/v1/media/{media_id}", headers=curator.headers)).status == 404


@SQLITE_ONLY
async def test_a_claimed_job_whose_worker_died_is_taken_again(client: Client, make_user: MakeUser,
                                                              tmp_path: Path) -> None:
    app = client.app
    await app[WORKER].stop()  # no live worker: we play a worker that claims and dies
    curator = await make_user("curator")
    media_id = await _upload(client, curator.headers, clip(tmp_path / "d.mp4").read_bytes(),
                             filename="d.mp4")
    dead = await app[QUEUE].claim("worker-killed-with-9", [PROCESS_JOB], lease_seconds=0.5)
    assert dead is not None and dead.id == process_job_id(media_id)
    replacement = Worker(app[QUEUE], app[JOB_KINDS], lease_seconds=5, poll_interval=0.1)
    replacement.start()
    try:
        media = await wait_for_media(client, media_id, curator.headers)
    finally:
        await replacement.stop()
    assert media["status"] == "ready"
    job = await app[QUEUE].get(process_job_id(media_id))
    assert job is not None and job.state == "done" and job.tries == 2


@SQLITE_ONLY
async def test_demo_clips_are_generated_and_processed(client: Client, make_user: MakeUser) -> None:
    curator = await make_user("curator")
    entry = await client.post("/api/v1/entries", headers=curator.headers, json={
        "kind": "video", "translations": {"en": {"title": "Demo form"}}})
    entry_id = (await entry.json())["id"]
    queued = await client.app[MEDIA].ingest_demo_clips([
        {"id": entry_id, "demo_clip": {"duration": 2, "pattern": "smptebars", "frequency": 330}},
        {"id": "no-clip-here"}])
    assert queued == 1
    shown = await (await client.get(f"/api/v1/entries/{entry_id}", headers=curator.headers)).json()
    media = await wait_for_media(client, shown["media"]["id"], curator.headers)
    assert media["status"] == "ready" and media["duration"] == pytest.approx(2.0, abs=0.2)
    assert (media["renditions"][0]["width"], media["renditions"][0]["height"]) == (640, 360)


def test_ingest_command_waits_for_ready_and_fails_non_zero(tmp_path: Path) -> None:
    good = clip(tmp_path / "form.mp4")
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 50)
    env = {**os.environ, "TAICHI_CLOUD_STORAGE_URL": f"file://{tmp_path / 'media'}",
           "TAICHI_CLOUD_SECRET_KEY": "test", "TAICHI_CLOUD_SEARCH_BACKEND": "whoosh"}
    command = [sys.executable, "-m", "taichi_cloud", "--data-dir", str(tmp_path / "data"), "ingest"]
    ok = subprocess.run([*command, str(good), "--title", "Cloud Hands", "--lang", "en"],
                        capture_output=True, text=True, env=env, timeout=180)
    assert ok.returncode == 0, ok.stderr
    assert "100.0% ready" in ok.stdout and "form.mp4" in ok.stdout
    failed = subprocess.run([*command, str(bad)], capture_output=True, text=True, env=env, timeout=180)
    assert failed.returncode == 1, failed.stderr
    assert "failed" in failed.stdout and "text file" in failed.stdout


async def test_upload_metadata_names_an_entry_the_curator_may_not_edit(
        client: Client, make_user: MakeUser) -> None:
    owner, other = await make_user("curator"), await make_user("curator")
    entry = await client.post("/api/v1/entries", headers=owner.headers, json={
        "kind": "video", "translations": {"en": {"title": "Mine"}}})
    entry_id = (await entry.json())["id"]
    response = await client.post("/api/v1/uploads", headers={
        **other.headers, **TUS, "Upload-Length": "10", "Upload-Metadata": metadata(entry=entry_id)})
    assert response.status == 404  # a draft of someone else is not even visible


@SQLITE_ONLY
async def test_a_separate_worker_process_takes_the_job(client: Client, make_user: MakeUser,
                                                       settings: Any, tmp_path: Path) -> None:
    await client.app[WORKER].stop()  # this API process runs no jobs; `taichi-cloud worker` does
    curator = await make_user("curator")
    media_id = await _upload(client, curator.headers, clip(tmp_path / "w.mp4").read_bytes(),
                             filename="w.mp4")
    env = {**os.environ, "TAICHI_CLOUD_DATABASE_URL": settings.database_url,
           "TAICHI_CLOUD_STORAGE_URL": settings.storage_url,
           "TAICHI_CLOUD_SECRET_KEY": settings.secret_key}
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taichi_cloud", "--data-dir", settings.data_dir, "worker", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        media = await wait_for_media(client, media_id, curator.headers)
        assert media["status"] == "ready", media["error"]
    finally:
        worker.terminate()
        _, stderr = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, stderr.decode()[-2000:]
