"""The media suite on S3 (a real moto server): upload -> ready -> stream, private media guarded."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiohttp
import m3u8
import pytest
from aiohttp import web

from taichi_cloud.app import create_app
from taichi_cloud.keys import STORE
from taichi_cloud.settings import Settings
from taichi_cloud.storage.s3 import S3BlobStore
from tests.conftest import MakeUser
from tests.media_helpers import Client, clip, decode_errors, tus_upload, wait_for_media
from tests.test_media_api import (  # noqa: F401  the media suite again, on S3
    test_hostile_uploads_fail_with_a_reason,
    test_media_json_sse_events_and_captions,
)
from tests.test_storage_helpers import s3_endpoint  # noqa: F401
from tests.test_streams import (  # noqa: F401
    test_private_media_needs_a_token_that_opens_every_file,
    test_published_ladder_parses_decodes_and_is_served_like_a_cdn,
)
from tests.test_uploads import test_upload_becomes_ready_media_on_a_new_draft_entry  # noqa: F401

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """S3 media tests are heavy: SQLite only (the database suites cover PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'data' / 'taichi.db'}"


@pytest.fixture
async def settings(tmp_path: Path, database_url: str, s3_endpoint: str) -> Settings:  # noqa: F811
    bucket = f"museum-{secrets.token_hex(5)}"
    store = S3BlobStore(bucket, endpoint_url=s3_endpoint)
    await store.create_bucket()
    await store.close()
    return Settings(data_dir=str(tmp_path / "data"), database_url=database_url,
                    storage_url=f"s3://{bucket}/taichi", s3_endpoint_url=s3_endpoint,
                    secret_key="test-secret", public_url="http://testserver.example")


@pytest.fixture
async def app(settings: Settings) -> web.Application:
    app = create_app(settings)

    async def close_store(app: web.Application) -> None:
        await app[STORE].close()

    app.on_cleanup.append(close_store)
    return app


async def test_upload_ready_stream_on_s3_with_private_media_guarded(
        client: Client, make_user: MakeUser, tmp_path: Path, settings: Settings) -> None:
    curator = await make_user("curator")
    data = await asyncio.to_thread(clip(tmp_path / "form.mp4").read_bytes)
    final = await tus_upload(client, curator.headers, data, filename="form.mp4")
    media = await wait_for_media(client, final["Taichi-Media-Id"], curator.headers)
    assert media["status"] == "ready", media["error"]
    mid = media["id"]
    store = client.app[STORE]
    assert isinstance(store, S3BlobStore)
    keys = await store.list_keys(f"streams/{mid}")
    assert f"streams/{mid}/master.m3u8" in keys and f"streams/{mid}/manifest.mpd" in keys
    assert await store.exists(f"originals/{mid}/source")
    assert not (Path(settings.data_dir) / "work" / mid).exists() or not any(
        (Path(settings.data_dir) / "work" / mid).iterdir())  # nothing left on the worker's disk

    # The draft is private: no token, no stream.
    assert (await client.get(f"/streams/{mid}/master.m3u8")).status == 403
    token = media["hls"].split("token=")[1]
    assert (await client.get(f"/streams/{mid}/v0/init-0.m4s")).status in (403, 404)
    master_response = await client.get(media["hls"])
    assert master_response.status == 200  # proxied and rewritten, relative URIs stay ours
    master = m3u8.loads(await master_response.text())
    variant = master.playlists[0]
    assert variant.uri.endswith(f"?token={token}")
    base = f"/streams/{mid}/"
    playlist = m3u8.loads(await (await client.get(base + variant.uri)).text())
    parts: list[bytes] = []
    async with aiohttp.ClientSession() as http:
        for uri in (playlist.segment_map[0].uri, *(s.uri for s in playlist.segments)):
            assert uri.endswith(f"?token={token}")
            assert (await client.get(base + uri.split("?")[0], allow_redirects=False)).status == 403
            redirect = await client.get(base + uri, allow_redirects=False)
            assert redirect.status == 302, await redirect.text()
            location = redirect.headers["Location"]
            assert location.startswith(settings.s3_endpoint_url) and "X-Amz-Signature=" in location
            assert "/.v/" in location and redirect.headers["Access-Control-Allow-Origin"] == "*"
            async with http.get(location) as segment:
                assert segment.status == 200
                parts.append(await segment.read())
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(b"".join(parts))
    assert decode_errors(joined) == ""  # the segments from S3 decode as one stream

    mpd = await client.get(media["dash"])
    assert mpd.status == 200 and mpd.content_type == "application/dash+xml"
    poster = await client.get(media["poster"], allow_redirects=False)
    assert poster.status == 302

    # Deleting the entry drops the published set and the original from the bucket.
    response = await client.delete(f"/api/v1/entries/{media['entry']}", headers=curator.headers)
    assert response.status in (200, 204), await response.text()
    for _ in range(50):
        if not await store.list_keys(f"streams/{mid}"):
            break
        await asyncio.sleep(0.1)
    assert await store.list_keys(f"streams/{mid}") == []
    assert not await store.exists(f"originals/{mid}/source")
