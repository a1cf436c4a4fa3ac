"""Blob storage behind one small async, key-based interface: local disk or S3.

Keys are ``/``-separated relative paths chosen by :mod:`taichi_cloud.storage.keys` only; no key
ever comes from a client. ``open_store(settings.resolved_storage_url, settings)`` picks the
implementation: ``file://DIR`` (:class:`LocalBlobStore`) or ``s3://bucket/prefix``
(:class:`~.s3.S3BlobStore`, endpoint ``S3_ENDPOINT_URL``, credentials from ``AWS_*``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from aiohttp import web

from .local import LocalBlobStore

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    etag: str
    mtime: float


@runtime_checkable
class BlobStore(Protocol):
    """What the media pipeline and the stream routes need of an object store."""

    async def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Store a local file under ``key`` (moved when ``move`` and cheap), atomically."""

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key``; readers see the old or the new bytes, never a mix."""

    async def get_bytes(self, key: str) -> bytes | None: ...

    def iter_chunks(self, key: str, chunk_size: int = ...) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks (FileNotFoundError when missing)."""

    async def stat(self, key: str) -> BlobInfo | None: ...

    async def exists(self, key: str) -> bool: ...

    async def list_keys(self, prefix: str) -> list[str]:
        """Every key below ``prefix/``, sorted."""

    async def fetch_to(self, key: str, dest: Path) -> Path:
        """A local path holding the blob: the file itself when local, else a download at ``dest``."""

    async def publish_tree(self, prefix: str, staged: Path) -> None:
        """Make the directory ``staged`` the whole content under ``prefix``, all at once."""

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` for sendfile responses, or None for remote stores."""

    async def url_for(self, key: str, *, expires: int = 3600) -> str | None:
        """A URL players may fetch directly (CDN or presigned), or None: serve it ourselves."""

    async def close(self) -> None: ...


def open_store(url: str, settings: Settings | None = None) -> BlobStore:
    """The store for ``STORAGE_URL``. Without ``settings`` the S3 endpoint and CDN base come
    from ``TAICHI_CLOUD_S3_ENDPOINT_URL`` / ``TAICHI_CLOUD_CDN_BASE_URL``."""
    if url.startswith("file://"):
        return LocalBlobStore(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        from .s3 import S3BlobStore

        if settings is not None:
            endpoint, cdn = settings.s3_endpoint_url, settings.cdn_base_url
        else:
            endpoint = os.environ.get("TAICHI_CLOUD_S3_ENDPOINT_URL", "")
            cdn = os.environ.get("TAICHI_CLOUD_CDN_BASE_URL", "")
        return S3BlobStore.from_url(url, endpoint_url=endpoint, cdn_base_url=cdn)
    raise ValueError(f"unsupported STORAGE_URL {url!r}: use file://DIR or s3://bucket/prefix")


def apply_settings(store: BlobStore, settings: Settings) -> None:
    """Give a store opened from the URL alone the endpoint and CDN settings (before use)."""
    configure = getattr(store, "configure", None)
    if configure is not None:
        configure(endpoint_url=settings.s3_endpoint_url, cdn_base_url=settings.cdn_base_url)


async def store_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx that puts the configured store under ``app[STORE]`` and closes it."""
    from ..keys import SETTINGS, STORE

    settings = app[SETTINGS]
    store = app[STORE] = open_store(settings.resolved_storage_url, settings)
    yield
    await store.close()


__all__ = ["BlobInfo", "BlobStore", "LocalBlobStore", "apply_settings", "open_store",
           "store_context"]
