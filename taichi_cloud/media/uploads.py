"""Resumable uploads (the storage side of tus): rows, part files, fsync, expiry, completion.

An upload's bytes go to ``DATA_DIR/uploads/<id>.part`` (the id is ours; client file names are
metadata only). ``uploads.offset`` is advanced only after the bytes are fsynced, and that is
the offset every later request sees, so an acknowledged byte survives a crash. Bytes beyond it
(an interrupted write) are cut off before the next write.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import ClientPayloadError

from ..accounts.service import Accounts, User
from ..db import Database
from ..errors import Conflict, DomainError, Gone, Invalid, NotFound, TooLarge
from ..util import iso, new_id, parse_iso, utcnow
from .service import MediaService
from .tables import uploads

log = logging.getLogger(__name__)

CHECKSUMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "md5": hashlib.md5,
                                           "sha256": hashlib.sha256}
WRITE_BLOCK = 1024 * 1024


class ChecksumMismatch(DomainError):
    status = 460
    title = "Checksum mismatch"
    slug = "checksum-mismatch"


class Uploads:
    def __init__(self, db: Database, media: MediaService, accounts: Accounts, directory: Path,
                 max_bytes: int, expiry_hours: int) -> None:
        self.db = db
        self.media = media
        self.accounts = accounts
        self.directory = directory
        self.max_bytes = max_bytes
        self.expiry = timedelta(hours=expiry_hours)
        self._locks: dict[str, asyncio.Lock] = {}

    def part_path(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.part"

    async def create(self, owner: User, length: int, metadata: dict[str, str],
                     raw_metadata: str) -> dict[str, Any]:
        if length > self.max_bytes:
            raise TooLarge(f"uploads are limited to {self.max_bytes} bytes", field="Upload-Length")
        entry_id = metadata.get("entry") or None
        if entry_id is not None:
            await self.media.check_attachable(entry_id, owner)
        upload_id, now = new_id(), utcnow()
        self.directory.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.part_path(upload_id).touch, 0o600)
        row = dict(id=upload_id, owner_id=owner.id, length=length, offset=0, metadata=metadata,
                   raw_metadata=raw_metadata, media_id=new_id(), entry_id=entry_id,
                   completed=False, created_at=iso(now), expires_at=iso(now + self.expiry))
        async with self.db.write() as conn:
            await conn.execute(uploads.insert().values(**row))
        return row

    async def get(self, upload_id: str, user: User) -> dict[str, Any]:
        async with self.db.read() as conn:
            found = (await conn.execute(sa.select(uploads).where(uploads.c.id == upload_id))).first()
        if found is None or (found.owner_id != user.id and not user.has("admin")):
            raise NotFound(f"no upload {upload_id}")
        row = dict(found._mapping)
        if not row["completed"] and parse_iso(row["expires_at"]) < utcnow():
            await self._remove(row)
            raise Gone(f"upload {upload_id} expired")
        return row

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    async def append(self, upload_id: str, user: User, offset: int, body: AsyncIterator[bytes],
                     checksum: tuple[str, bytes] | None) -> dict[str, Any]:
        """Write a PATCH body at ``offset``; returns the row with the new, durable offset."""
        async with self._lock(upload_id):
            row = await self.get(upload_id, user)
            if offset != row["offset"]:
                raise Conflict(f"Upload-Offset is {offset} but the upload is at {row['offset']}",
                               field="Upload-Offset")
            written, complete_body = await self._write(row, body, checksum)
            if written:
                row["offset"] += written
                row["expires_at"] = iso(utcnow() + self.expiry)
                async with self.db.write() as conn:
                    await conn.execute(uploads.update().where(uploads.c.id == upload_id).values(
                        offset=row["offset"], expires_at=row["expires_at"]))
            if row["offset"] == row["length"] and not row["completed"]:
                await self.complete(row, user)
            if not complete_body:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                raise Invalid("the request body ended early; the bytes received were kept")
            self._locks.pop(upload_id, None)
            return row

    async def _write(self, row: dict[str, Any], body: AsyncIterator[bytes],
                     checksum: tuple[str, bytes] | None) -> tuple[int, bool]:
        path, start, room = self.part_path(row["id"]), row["offset"], row["length"] - row["offset"]
        fd = await asyncio.to_thread(_open_at, path, start)
        hasher = CHECKSUMS[checksum[0]]() if checksum else None
        written, pending, complete_body = 0, bytearray(), True
        try:
            try:
                async for chunk in body:
                    if written + len(pending) + len(chunk) > room:
                        raise TooLarge(f"the body runs past Upload-Length {row['length']}")
                    pending += chunk
                    if hasher is not None:
                        hasher.update(chunk)
                    if len(pending) >= WRITE_BLOCK:
                        written += await asyncio.to_thread(_write_all, fd, bytes(pending))
                        pending.clear()
            except (ClientPayloadError, ConnectionError, OSError, EOFError,
                    asyncio.IncompleteReadError, asyncio.CancelledError) as exc:
                # aiohttp cancels the handler when the client goes away: keep what arrived.
                log.info("upload %s: body interrupted (%s)", row["id"], exc)
                complete_body = False
            if pending:
                written += await asyncio.to_thread(_write_all, fd, bytes(pending))
            if checksum is not None and hasher is not None:
                if not complete_body or hasher.digest() != checksum[1]:
                    await asyncio.to_thread(os.ftruncate, fd, start)
                    if complete_body:
                        raise ChecksumMismatch(f"the body's {checksum[0]} does not match Upload-Checksum")
                    return 0, False
            await asyncio.to_thread(os.fsync, fd)
            return written, complete_body
        except BaseException:
            await asyncio.to_thread(os.ftruncate, fd, start)
            raise
        finally:
            os.close(fd)

    async def complete(self, row: dict[str, Any], user: User) -> dict[str, Any]:
        metadata = row["metadata"] or {}
        asset = await self.media.create_asset(
            self.part_path(row["id"]), owner=user, entry_id=row["entry_id"],
            filename=metadata.get("filename", ""), filetype=metadata.get("filetype", ""),
            media_id=row["media_id"], move=True)
        async with self.db.write() as conn:
            await conn.execute(uploads.update().where(uploads.c.id == row["id"]).values(
                completed=True, entry_id=asset["entry_id"]))
        row.update(completed=True, entry_id=asset["entry_id"])
        return asset

    async def terminate(self, upload_id: str, user: User) -> None:
        async with self._lock(upload_id):
            row = await self.get(upload_id, user)
            await self._remove(row)
        self._locks.pop(upload_id, None)

    async def _remove(self, row: dict[str, Any]) -> None:
        async with self.db.write() as conn:
            await conn.execute(uploads.delete().where(uploads.c.id == row["id"]))
        await asyncio.to_thread(self.part_path(row["id"]).unlink, True)

    async def remove_expired(self) -> int:
        """Delete uploads past their expiry (their part files too); returns how many."""
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(uploads).where(uploads.c.expires_at < iso()))).all()
        for found in rows:
            await self._remove(dict(found._mapping))
        if rows:
            log.info("removed %d expired uploads", len(rows))
        return len(rows)

    async def finish_interrupted(self) -> int:
        """After a crash: uploads whose last byte was acknowledged but not turned into media."""
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(uploads).where(
                uploads.c.completed.is_(False), uploads.c.offset == uploads.c.length))).all()
        done = 0
        for found in rows:
            row = dict(found._mapping)
            try:
                await self.complete(row, await self.accounts.get_user(row["owner_id"]))
                done += 1
            except (DomainError, OSError) as exc:
                log.warning("upload %s could not be completed: %s", row["id"], exc)
        return done


def _open_at(path: Path, offset: int) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.ftruncate(fd, offset)  # drop bytes that were never acknowledged
    os.lseek(fd, offset, os.SEEK_SET)
    return fd


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return len(data)
