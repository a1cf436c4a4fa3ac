"""The local-disk BlobStore: a directory tree, atomic renames, I/O off the event loop."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import BlobInfo


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root.joinpath(*parts)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    async def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        await asyncio.to_thread(self._put_file, self._path(key), source, move)

    @staticmethod
    def _put_file(target: Path, source: Path, move: bool) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(source, target)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        shutil.copyfile(source, temp)
        _fsync_file(temp)
        os.replace(temp, target)
        if move:
            source.unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put_bytes, self._path(key), data)

    @staticmethod
    def _put_bytes(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)

    async def get_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    async def iter_chunks(self, key: str, chunk_size: int = 1024**2) -> AsyncIterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)

        def walk() -> list[str]:
            # Dot names are the publisher's temporary siblings, never keys.
            return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*")
                          if p.is_file() and not any(part.startswith(".") for part in
                                                     p.relative_to(base).parts))
        return await asyncio.to_thread(walk)

    async def url_for(self, key: str, *, expires: int = 3600) -> str | None:
        return None  # served by our own sendfile responses

    async def close(self) -> None:
        return None

    async def stat(self, key: str) -> BlobInfo | None:
        from . import BlobInfo

        path = self._path(key)
        try:
            st = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        tag = hashlib.sha1(f"{key}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:20]
        return BlobInfo(key, st.st_size, tag, st.st_mtime)

    async def fetch_to(self, key: str, dest: Path) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    async def publish_tree(self, prefix: str, staged: Path) -> None:
        from ..media.transcode import publish_directory

        await asyncio.to_thread(publish_directory, staged, self._path(prefix))

    async def delete(self, key: str) -> None:
        # Originals can be many gigabytes; unlinking them may take a while.
        await asyncio.to_thread(self._path(key).unlink, True)

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._path(prefix), True)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
