"""Blob storage behind one small async, key-based interface (local disk now, S3 later).

Keys are ``/``-separated relative paths chosen by :mod:`taichi_cloud.storage.keys` only; no key
ever comes from a client. ``open_store(settings.resolved_storage_url)`` picks the implementation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from aiohttp import web

from .local import LocalBlobStore


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

    async def stat(self, key: str) -> BlobInfo | None: ...

    async def fetch_to(self, key: str, dest: Path) -> Path:
        """A local path holding the blob: the file itself when local, else a download at ``dest``."""

    async def publish_tree(self, prefix: str, staged: Path) -> None:
        """Make the directory ``staged`` the whole content under ``prefix``, all at once."""

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` for sendfile responses, or None for remote stores."""


def open_store(url: str) -> BlobStore:
    if url.startswith("file://"):
        return LocalBlobStore(Path(url.removeprefix("file://")))
    raise ValueError(f"unsupported STORAGE_URL {url!r}: use file://DIR (s3:// comes with issue 7)")


async def store_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx that puts the configured store under ``app[STORE]``."""
    from ..keys import SETTINGS, STORE

    app[STORE] = open_store(app[SETTINGS].resolved_storage_url)
    yield


__all__ = ["BlobInfo", "BlobStore", "LocalBlobStore", "open_store", "store_context"]
