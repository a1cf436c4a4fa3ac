"""The S3 BlobStore (``s3://bucket/prefix``) on aiobotocore: AWS or any S3-compatible server.

Credentials come from botocore's usual chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``,
profiles, instance roles); the region from ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``).

Published trees (a stream directory) are uploaded under a fresh version and switched live by
rewriting one pointer object (see :mod:`.keys`): a single PUT is atomic in S3, so a player sees
the old set or the new one, never a mix. The previous version is deleted after the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from .keys import (
    POINTER_NAME,
    is_tree_prefix,
    parse_versioned_key,
    split_tree,
    tree_pointer_key,
    tree_version_prefix,
)

if TYPE_CHECKING:
    from . import BlobInfo

log = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 64 * 1024**2
PART_SIZE = 64 * 1024**2
UPLOAD_CONCURRENCY = 8
POINTER_CACHE_SECONDS = 1.0
CHUNK = 1024**2
_MISSING = ("NoSuchKey", "404", "NotFound")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


def _new_version() -> str:
    # Sortable by time, unguessable: a CDN URL of a private file is a capability.
    return f"{int(time.time()):x}-{secrets.token_hex(8)}"


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str = "",
                 region: str = "", cdn_base_url: str = "",
                 multipart_threshold: int = MULTIPART_THRESHOLD,
                 part_size: int = PART_SIZE) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION") or "us-east-1"
        self.cdn_base_url = cdn_base_url.rstrip("/")
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self._pointers: dict[str, tuple[float, str]] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3BlobStore:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, **options)

    def configure(self, *, endpoint_url: str = "", cdn_base_url: str = "") -> None:
        """Apply settings before first use (non-empty values win)."""
        if self._client is not None:
            raise RuntimeError("configure the S3 store before it is used")
        self.endpoint_url = endpoint_url or self.endpoint_url
        self.cdn_base_url = (cdn_base_url or self.cdn_base_url).rstrip("/")

    # -- client --------------------------------------------------------------------------
    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = contextlib.AsyncExitStack()
                    config = AioConfig(signature_version="s3v4", max_pool_connections=32,
                                       s3={"addressing_style": "path"} if self.endpoint_url else {})
                    self._client = await stack.enter_async_context(get_session().create_client(
                        "s3", endpoint_url=self.endpoint_url or None, region_name=self.region,
                        config=config))
                    self._exit = stack
        return self._client

    async def close(self) -> None:
        if self._exit is not None:
            exit_stack, self._exit, self._client = self._exit, None, None
            await exit_stack.aclose()

    async def create_bucket(self) -> None:
        """Make the bucket if it does not exist (tests and local walkthroughs)."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            options: dict[str, Any] = {}
            if self.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            await s3.create_bucket(Bucket=self.bucket, **options)

    # -- keys ----------------------------------------------------------------------------
    def object_key(self, stored: str) -> str:
        return f"{self.prefix}/{stored}" if self.prefix else stored

    def _stored(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1:] if self.prefix else object_key

    async def _pointer(self, tree: str, *, fresh: bool = False) -> str | None:
        now = time.monotonic()
        cached = self._pointers.get(tree)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        data = await self._get(tree_pointer_key(tree))
        if data is None:
            self._pointers.pop(tree, None)
            return None
        version = data.decode().strip()
        self._pointers[tree] = (now + POINTER_CACHE_SECONDS, version)
        return version

    async def _resolve(self, key: str, *, fresh: bool = False) -> str | None:
        """The stored key behind a logical key (through the tree pointer), None if unpublished."""
        tree = split_tree(_check_key(key))
        if tree is None:
            return key
        version = await self._pointer(tree[0], fresh=fresh)
        if version is None:
            return None
        return f"{tree_version_prefix(tree[0], version)}/{tree[1]}"

    async def _resolve_for_write(self, key: str) -> str:
        tree = split_tree(_check_key(key))
        if tree is None:
            return key
        version = await self._pointer(tree[0], fresh=True)
        if version is None:  # a first file in an unpublished tree starts a version
            version = _new_version()
            await self._put(tree_pointer_key(tree[0]), version.encode())
        return f"{tree_version_prefix(tree[0], version)}/{tree[1]}"

    # -- raw object operations (stored keys) ---------------------------------------------
    async def _get(self, stored: str) -> bytes | None:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self.object_key(stored))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def _put(self, stored: str, data: bytes, content_type: str | None = None) -> None:
        s3 = await self._s3()
        extra = _object_headers(stored)
        if content_type:
            extra["ContentType"] = content_type
        await s3.put_object(Bucket=self.bucket, Key=self.object_key(stored), Body=data, **extra)

    async def _list(self, stored_prefix: str) -> AsyncIterator[str]:
        s3 = await self._s3()
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket,
                                             Prefix=self.object_key(stored_prefix) + "/"):
            for item in page.get("Contents", []):
                yield self._stored(item["Key"])

    async def _delete_many(self, stored: list[str]) -> None:
        s3 = await self._s3()
        for start in range(0, len(stored), 1000):
            batch = [{"Key": self.object_key(k)} for k in stored[start:start + 1000]]
            await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    # -- BlobStore -----------------------------------------------------------------------
    def local_path(self, key: str) -> Path | None:
        return None

    async def put_bytes(self, key: str, data: bytes) -> None:
        await self._put(await self._resolve_for_write(key), data)

    async def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        await self._upload(await self._resolve_for_write(key), source)
        if move:
            await asyncio.to_thread(source.unlink, True)

    async def _upload(self, stored: str, source: Path) -> None:
        size = (await asyncio.to_thread(source.stat)).st_size
        if size <= self.multipart_threshold:
            await self._put(stored, await asyncio.to_thread(source.read_bytes))
            return
        s3 = await self._s3()
        key = self.object_key(stored)
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                  **_object_headers(stored))
        upload_id = upload["UploadId"]
        try:
            parts = []
            with source.open("rb") as handle:
                number = 1
                while chunk := await asyncio.to_thread(handle.read, self.part_size):
                    part = await s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                PartNumber=number, Body=chunk)
                    parts.append({"PartNumber": number, "ETag": part["ETag"]})
                    number += 1
            await s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(s3.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                               UploadId=upload_id))
            raise

    async def get_bytes(self, key: str) -> bytes | None:
        stored = await self._resolve(key)
        if stored is None:
            return None
        data = await self._get(stored)
        if data is None and split_tree(key) is not None:  # republished meanwhile
            stored = await self._resolve(key, fresh=True)
            data = await self._get(stored) if stored is not None else None
        return data

    async def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        stored = await self._resolve(key)
        if stored is None:
            raise FileNotFoundError(key)
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self.object_key(stored))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk

    async def stat(self, key: str) -> BlobInfo | None:
        from . import BlobInfo

        stored = await self._resolve(key)
        if stored is None:
            return None
        s3 = await self._s3()
        try:
            head = await s3.head_object(Bucket=self.bucket, Key=self.object_key(stored))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return BlobInfo(key, int(head["ContentLength"]), str(head["ETag"]).strip('"'),
                        head["LastModified"].timestamp())

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def fetch_to(self, key: str, dest: Path) -> Path:
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.part")
        handle = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in self.iter_chunks(key):
                await asyncio.to_thread(handle.write, chunk)
        except BaseException:
            handle.close()
            partial.unlink(missing_ok=True)
            raise
        handle.close()
        await asyncio.to_thread(os.replace, partial, dest)
        return dest

    async def list_keys(self, prefix: str) -> list[str]:
        """Logical keys under ``prefix`` (only the live version of published trees)."""
        found: list[str] = []
        async for stored in self._list(_check_key(prefix)):
            versioned = parse_versioned_key(stored)
            if versioned is not None:
                tree, version, relative = versioned
                if await self._pointer(tree) == version:
                    found.append(f"{tree}/{relative}")
            elif not stored.endswith(f"/{POINTER_NAME}"):
                found.append(stored)
        return sorted(found)

    async def publish_tree(self, prefix: str, staged: Path) -> None:
        if not is_tree_prefix(_check_key(prefix)):
            raise ValueError(f"{prefix!r} is not a publishable tree prefix")
        files = await asyncio.to_thread(
            lambda: sorted(p for p in staged.rglob("*") if p.is_file()))
        version = _new_version()
        base = tree_version_prefix(prefix, version)
        limit = asyncio.Semaphore(UPLOAD_CONCURRENCY)

        async def upload(path: Path) -> None:
            async with limit:
                await self._upload(f"{base}/{path.relative_to(staged).as_posix()}", path)

        previous = await self._pointer(prefix, fresh=True)
        try:
            await asyncio.gather(*(upload(p) for p in files))
        except BaseException:
            await asyncio.shield(self._drop_version(prefix, version))
            raise
        await self._put(tree_pointer_key(prefix), version.encode(), "text/plain")  # the switch
        self._pointers[prefix] = (time.monotonic() + POINTER_CACHE_SECONDS, version)
        if previous is not None and previous != version:
            await self._drop_version(prefix, previous)
        await asyncio.to_thread(_remove_tree, staged)

    async def _drop_version(self, prefix: str, version: str) -> None:
        stored = [k async for k in self._list(tree_version_prefix(prefix, version))]
        await self._delete_many(stored)

    async def delete(self, key: str) -> None:
        stored = await self._resolve(key)
        if stored is not None:
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.bucket, Key=self.object_key(stored))

    async def delete_prefix(self, prefix: str) -> None:
        _check_key(prefix)
        if is_tree_prefix(prefix):  # readers lose the whole set at once, then files go
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.bucket, Key=self.object_key(tree_pointer_key(prefix)))
            self._pointers.pop(prefix, None)
        await self._delete_many([k async for k in self._list(prefix)])

    async def url_for(self, key: str, *, expires: int = 3600) -> str | None:
        """A URL a player can fetch directly: on the CDN when configured, else presigned."""
        stored = await self._resolve(key)
        if stored is None:
            return None
        object_key = self.object_key(stored)
        if self.cdn_base_url:
            return f"{self.cdn_base_url}/{quote(object_key)}"
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": object_key}, ExpiresIn=expires)
        return url


def _object_headers(stored: str) -> dict[str, str]:
    """Content-Type and Cache-Control of a stream file, as the stream routes would send them,
    so players fetching it from S3 or a CDN get the same answer."""
    if split_tree(stored) is None and parse_versioned_key(stored) is None:
        return {}
    from ..media.streams import content_type

    mime, cache = content_type(stored.rsplit("/", 1)[-1])
    return {"ContentType": mime, "CacheControl": cache}


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
