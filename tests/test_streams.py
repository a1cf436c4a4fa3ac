"""Streaming the published ladder: m3u8 parsing, ranges, ETags, caching, MIME, CORS, tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import m3u8
import pytest

from taichi_cloud.media.tools import ffmpeg_binary
from tests.conftest import MakeUser
from tests.media_helpers import Client, clip, decode_errors, tus_upload, wait_for_media

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _ready_media(client: Client, headers: dict[str, str], path: Path) -> dict[str, Any]:
    data = await asyncio.to_thread(path.read_bytes)
    final = await tus_upload(client, headers, data, filename=path.name)
    media = await wait_for_media(client, final["Taichi-Media-Id"], headers)
    assert media["status"] == "ready", media["error"]
    return media


async def _publish(client: Client, entry_id: str, headers: dict[str, str]) -> None:
    for to in ("review", "published"):
        response = await client.post(f"/api/v1/entries/{entry_id}/transitions", json={"to": to},
                                     headers=headers)
        assert response.status == 200, await response.text()


@SQLITE_ONLY
async def test_published_ladder_parses_decodes_and_is_served_like_a_cdn(
        client: Client, make_user: MakeUser, tmp_path: Path) -> None:
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    media = await _ready_media(client, curator.headers, clip(tmp_path / "a.mp4", seconds=3.0,
                                                             size="640x360"))
    await _publish(client, media["entry"], reviewer.headers)
    public = await (await client.get(f"/api/v1/media/{media['id']}")).json()
    assert public["hls"] == f"/streams/{media['id']}/master.m3u8"  # no token when public
    assert [(r["width"], r["height"]) for r in public["renditions"]] == [(640, 360), (426, 240)]

    response = await client.get(public["hls"], headers={"Origin": "https://school.example"})
    assert response.status == 200
    assert response.content_type == "application/vnd.apple.mpegurl"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age=5" in response.headers["Cache-Control"]
    master = m3u8.loads(await response.text())
    assert master.is_variant and len(master.playlists) == 2
    base = f"/streams/{media['id']}/"
    counts = set()
    for variant in master.playlists:
        assert variant.stream_info.bandwidth > 0 and variant.stream_info.codecs.startswith("avc1.")
        playlist = m3u8.loads(await (await client.get(base + variant.uri)).text())
        counts.add(len(playlist.segments))
        init = await client.get(base + playlist.segment_map[0].uri)
        assert init.content_type == "video/mp4"
        rung = bytearray(await init.read())
        for segment in playlist.segments:
            whole = await client.get(base + segment.uri)
            assert whole.content_type == "video/iso.segment"
            assert whole.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            body = await whole.read()
            # The same bytes again in two byte ranges.
            half = len(body) // 2
            first = await client.get(base + segment.uri, headers={"Range": f"bytes=0-{half - 1}"})
            second = await client.get(base + segment.uri, headers={"Range": f"bytes={half}-"})
            assert first.status == second.status == 206
            assert first.headers["Content-Range"] == f"bytes 0-{half - 1}/{len(body)}"
            assert await first.read() + await second.read() == body
            rung += body
        rendition = tmp_path / f"{variant.uri}.mp4"
        rendition.write_bytes(bytes(rung))
        assert decode_errors(rendition) == ""
    assert len(counts) == 1 and counts.pop() >= 1  # aligned across rungs
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert len(audio) == 1

    etag = (await client.get(base + "init-0.m4s")).headers["ETag"]
    again = await client.get(base + "init-0.m4s", headers={"If-None-Match": etag})
    assert again.status == 304

    mpd = await client.get(base + "manifest.mpd")
    assert mpd.content_type == "application/dash+xml"
    poster = await client.get(base + "poster.jpg")
    assert poster.content_type == "image/jpeg" and (await poster.read())[:3] == b"\xff\xd8\xff"
    storyboard = await client.get(base + "storyboard.vtt")
    assert storyboard.content_type == "text/vtt" and "#xywh=" in await storyboard.text()
    preflight = await client.options(base + "chunk-0-00001.m4s", headers={
        "Origin": "https://school.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range"})
    assert preflight.status == 204 and "Range" in preflight.headers["Access-Control-Allow-Headers"]

    # The DASH manifest over the same segments decodes with ffmpeg, fetched over HTTP.
    url = str(client.make_url(base + "manifest.mpd"))
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-v", "error", "-nostdin", "-i", url, "-map", "0", "-f", "null", "-",
        stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    assert process.returncode == 0 and stderr.decode().strip() == ""


@SQLITE_ONLY
async def test_private_media_needs_a_token_that_opens_every_file(
        client: Client, make_user: MakeUser, tmp_path: Path) -> None:
    curator = await make_user("curator")
    media = await _ready_media(client, curator.headers, clip(tmp_path / "p.mp4"))
    mid = media["id"]
    assert (await client.get(f"/streams/{mid}/master.m3u8")).status == 403
    assert (await client.get(f"/api/v1/media/{mid}")).status == 404  # a draft: not visible
    token = media["hls"].split("token=")[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.get(f"/streams/{mid}/master.m3u8?token={tampered}")).status == 403
    expired = "1000." + token.split(".")[1]
    assert (await client.get(f"/streams/{mid}/master.m3u8?token={expired}")).status == 403

    master = await client.get(media["hls"])
    assert master.status == 200
    text = await master.text()
    base = f"/streams/{mid}/"
    for variant in m3u8.loads(text).playlists:
        assert variant.uri.endswith(f"?token={token}")
        playlist = m3u8.loads(await (await client.get(base + variant.uri)).text())
        for uri in (playlist.segment_map[0].uri, *(s.uri for s in playlist.segments)):
            assert uri.endswith(f"?token={token}")
            assert (await client.get(base + uri)).status == 200
            assert (await client.get(base + uri.split("?")[0])).status == 403
    mpd = await (await client.get(media["dash"])).text()
    assert f'media="chunk-$RepresentationID$-$Number%05d$.m4s?token={token}"' in mpd
    storyboard = await (await client.get(media["storyboard"])).text()
    assert f"storyboard.jpg?token={token}#xywh=" in storyboard
    assert (await client.get(f"/streams/{mid}/../secret_key?token={token}")).status == 404


@SQLITE_ONLY
async def test_audio_only_source_gets_an_audio_ladder(client: Client, make_user: MakeUser,
                                                      tmp_path: Path) -> None:
    curator = await make_user("curator")
    source = clip(tmp_path / "oral-history.m4a", video=False)
    media = await _ready_media(client, curator.headers, source)
    assert media["poster"] is None and media["storyboard"] is None
    assert [(r["width"], r["height"]) for r in media["renditions"]] == [(None, None)]
    assert media["renditions"][0]["codecs"].startswith("mp4a.40")
    master = m3u8.loads(await (await client.get(media["hls"])).text())
    (variant,) = master.playlists
    base = f"/streams/{media['id']}/"
    playlist = m3u8.loads(await (await client.get(base + variant.uri)).text())
    data = await (await client.get(base + playlist.segment_map[0].uri)).read()
    for segment in playlist.segments:
        data += await (await client.get(base + segment.uri)).read()
    (tmp_path / "audio.mp4").write_bytes(data)
    assert decode_errors(tmp_path / "audio.mp4") == ""
