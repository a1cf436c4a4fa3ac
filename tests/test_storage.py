"""One BlobStore suite, run over local disk and over a real S3-compatible server (moto)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from pathlib import Path

import aiohttp
import pytest

from taichi_cloud.settings import Settings
from taichi_cloud.storage import BlobStore, LocalBlobStore, apply_settings, open_store
from taichi_cloud.storage.keys import original_key, stream_key, stream_prefix
from taichi_cloud.storage.s3 import S3BlobStore, parse_s3_url
from tests.test_storage_helpers import s3_endpoint, s3_store  # noqa: F401

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "media")
    store: BlobStore = request.getfixturevalue("s3_store")
    return store


def _stage(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


async def test_bytes_round_trip_stat_exists_delete(store: BlobStore) -> None:
    key = original_key("m1")
    assert await store.get_bytes(key) is None and await store.stat(key) is None
    assert not await store.exists(key)
    await store.put_bytes(key, b"first")
    await store.put_bytes(key, b"second version")
    assert await store.get_bytes(key) == b"second version"
    info = await store.stat(key)
    assert info is not None and info.key == key and info.size == 14 and info.etag
    assert await store.exists(key)
    await store.delete(key)
    await store.delete(key)  # deleting twice is fine
    assert await store.get_bytes(key) is None and not await store.exists(key)


async def test_files_move_fetch_and_chunks(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024**2 + 17)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    key = original_key("m2")
    await store.put_file(key, source, move=True)
    assert not source.exists()
    fetched = await store.fetch_to(key, tmp_path / "work" / "source")
    assert fetched.read_bytes() == data
    chunks = [c async for c in store.iter_chunks(key, 1024**2)]
    assert len(chunks) >= 3 and b"".join(chunks) == data
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"kept")
    await store.put_file(original_key("m3"), kept)
    assert kept.exists() and await store.get_bytes(original_key("m3")) == b"kept"
    with pytest.raises(FileNotFoundError):
        await store.fetch_to(original_key("absent"), tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        [c async for c in store.iter_chunks(original_key("absent"))]


async def test_publish_tree_swaps_whole_sets_and_lists_the_live_one(store: BlobStore,
                                                                    tmp_path: Path) -> None:
    prefix = stream_prefix("m4")
    first = _stage(tmp_path / "v1", {"master.m3u8": b"v1", "v0/seg-1.m4s": b"v1 seg",
                                     "only-in-v1.jpg": b"old"})
    await store.publish_tree(prefix, first)
    assert await store.get_bytes(f"{prefix}/master.m3u8") == b"v1"
    second = _stage(tmp_path / "v2", {"master.m3u8": b"v2", "v0/seg-1.m4s": b"v2 seg",
                                      "captions/en.vtt": b"WEBVTT"})
    await store.publish_tree(prefix, second)
    assert await store.get_bytes(f"{prefix}/master.m3u8") == b"v2"
    assert await store.get_bytes(f"{prefix}/v0/seg-1.m4s") == b"v2 seg"
    assert await store.get_bytes(f"{prefix}/only-in-v1.jpg") is None  # the old set is gone
    assert await store.list_keys(prefix) == [f"{prefix}/{n}" for n in
                                             ("captions/en.vtt", "master.m3u8", "v0/seg-1.m4s")]
    # A single file written into the live set (captions added later) joins it.
    key = stream_key("m4", "captions/fr.vtt")
    assert key is not None
    await store.put_bytes(key, b"WEBVTT fr")
    assert await store.get_bytes(key) == b"WEBVTT fr"
    assert key in await store.list_keys(prefix)
    await store.delete_prefix(prefix)
    assert await store.list_keys(prefix) == []
    assert await store.get_bytes(f"{prefix}/master.m3u8") is None


async def test_readers_never_see_a_partial_set_while_publishing(store: BlobStore,
                                                                tmp_path: Path) -> None:
    prefix = stream_prefix("m5")
    names = ["master.m3u8"] + [f"v0/seg-{n}.m4s" for n in range(1, 9)]
    await store.publish_tree(prefix, _stage(tmp_path / "s0", {n: b"0" for n in names}))
    done = asyncio.Event()
    seen: list[bytes | None] = []

    async def reader() -> None:
        while not done.is_set():
            for name in names:
                seen.append(await store.get_bytes(f"{prefix}/{name}"))

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    for version in range(1, 5):
        staged = _stage(tmp_path / f"s{version}", {n: str(version).encode() for n in names})
        await store.publish_tree(prefix, staged)
    done.set()
    await asyncio.gather(*readers)
    assert seen and None not in seen  # every file of the set was there at every moment
    assert {await store.get_bytes(f"{prefix}/{n}") for n in names} == {b"4"}


async def test_keys_are_checked(store: BlobStore) -> None:
    for bad in ("", "/etc/passwd", "a/../b", "a//b", "./a"):
        with pytest.raises(ValueError):
            await store.put_bytes(bad, b"x")


async def test_local_store_serves_files_itself(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    await store.put_bytes("originals/a/source", b"x")
    path = store.local_path("originals/a/source")
    assert path is not None and path.read_bytes() == b"x"
    assert await store.url_for("originals/a/source") is None
    await store.close()


async def test_s3_multipart_upload_and_presigned_urls(s3_store: S3BlobStore,  # noqa: F811
                                                      tmp_path: Path) -> None:
    s3_store.multipart_threshold = s3_store.part_size = 5 * 1024**2  # S3's smallest part
    data = os.urandom(11 * 1024**2 + 5)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    await s3_store.put_file(original_key("big"), source)
    assert (await s3_store.stat(original_key("big"))).size == len(data)  # type: ignore[union-attr]
    fetched = await s3_store.fetch_to(original_key("big"), tmp_path / "back.bin")
    assert hashlib.sha256(fetched.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert s3_store.local_path(original_key("big")) is None

    prefix = stream_prefix("m6")
    await s3_store.publish_tree(prefix, _stage(tmp_path / "set", {"v0/seg-1.m4s": b"0123456789"}))
    url = await s3_store.url_for(f"{prefix}/v0/seg-1.m4s", expires=60)
    assert url is not None and "X-Amz-Signature=" in url
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Range": "bytes=2-5"}) as response:
            assert response.status == 206 and await response.read() == b"2345"
    # (moto does not check signatures, so a tampered URL is not tested here.)
    assert await s3_store.url_for(f"{prefix}/v0/missing.m4s") is not None  # S3 answers 404
    assert await s3_store.url_for(f"{stream_prefix('unpublished')}/master.m3u8") is None


async def test_s3_settings_prefix_and_cdn(s3_endpoint: str) -> None:  # noqa: F811
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError):
        parse_s3_url("s3:///no-bucket")
    settings = Settings(s3_endpoint_url=s3_endpoint, cdn_base_url="https://cdn.example/media/")
    bucket = f"b-{secrets.token_hex(6)}"
    store = open_store(f"s3://{bucket}", settings)
    assert isinstance(store, S3BlobStore)
    await store.create_bucket()
    late = open_store(f"s3://{bucket}")
    apply_settings(late, settings)
    try:
        prefix = stream_prefix("m7")
        staged = Path(os.environ.get("TMPDIR", "/tmp")) / f"cdn-{secrets.token_hex(4)}"
        await store.publish_tree(prefix, _stage(staged, {"poster.jpg": b"jpg"}))
        url = await late.url_for(f"{prefix}/poster.jpg")
        assert url is not None and url.startswith("https://cdn.example/media/streams/m7/.v/")
        assert url.endswith("/poster.jpg")
        with pytest.raises(ValueError):
            await store.publish_tree("originals", staged)
    finally:
        await store.close()
        await late.close()
