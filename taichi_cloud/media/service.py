"""The media service under ``app[MEDIA]``: assets, their public JSON, captions, stream tokens.

The web layer and the catalog talk to this object only; the pipeline (``pipeline.py``) moves an
asset through ``uploaded -> probing -> transcoding -> ready | failed``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from ..accounts.service import User
from ..catalog.service import Catalog, can_edit, can_view
from ..db import Database
from ..errors import Conflict, Forbidden, NotFound
from ..jobs.queue import JobQueue
from ..settings import Settings
from ..storage import BlobStore, apply_settings
from ..storage.keys import (
    caption_name,
    caption_playlist_name,
    original_key,
    stream_key,
    stream_prefix,
)
from ..util import iso, new_id
from ..web.context import viewer
from .tables import media_assets, media_captions

log = logging.getLogger(__name__)

PROCESS_JOB = "media.process"
FINAL_STATUSES = ("ready", "failed")
STREAM_TOKEN_SECONDS = 6 * 3600
ACCESS_CACHE_SECONDS = 2.0
_TOKEN_CONTEXT = b"taichi-cloud stream tokens v1"


def process_job_id(media_id: str) -> str:
    return f"media:{media_id}"


class StreamTokens:
    """``<expires>.<mac>``: HMAC-SHA256 over the media id and the expiry, so one token opens
    every file of one media (its playlists, init segments, segments, captions) until it expires."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _TOKEN_CONTEXT, hashlib.sha256).digest()

    def _mac(self, media_id: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{media_id}:{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")

    def issue(self, media_id: str, ttl: int = STREAM_TOKEN_SECONDS) -> str:
        # Rounded up to the next 10 minutes so repeated calls give cacheable, equal URLs.
        expires = (int(time.time()) + ttl + 599) // 600 * 600
        return f"{expires}.{self._mac(media_id, expires)}"

    def check(self, media_id: str, token: str | None) -> bool:
        if not token or "." not in token or len(token) > 100:
            return False
        raw_expires, _, mac = token.partition(".")
        if not raw_expires.isdigit() or int(raw_expires) < time.time():
            return False
        return hmac.compare_digest(mac, self._mac(media_id, int(raw_expires)))


class MediaService:
    def __init__(self, settings: Settings, db: Database, store: BlobStore, queue: JobQueue,
                 catalog: Catalog, secret: str) -> None:
        self.settings = settings
        self.db = db
        apply_settings(store, settings)  # S3 endpoint and CDN base from the settings
        self.store = store
        self.queue = queue
        self.catalog = catalog
        self.tokens = StreamTokens(secret)
        self.work_root = settings.data_path / "work"
        self._caption_lock = asyncio.Lock()
        self._access_cache: dict[str, tuple[float, dict[str, Any]]] = {}

    # -- assets --------------------------------------------------------------------------
    async def create_asset(self, source: Path, *, owner: User | None, entry_id: str | None,
                           filename: str, filetype: str = "", media_id: str | None = None,
                           move: bool = False, title: str | None = None,
                           lang: str = "en") -> dict[str, Any]:
        """Store ``source`` as a new asset, queue its processing and attach it to an entry
        (a new draft video entry titled after the file when ``entry_id`` is None)."""
        media_id = media_id or new_id()
        if entry_id is not None:
            await self.check_attachable(entry_id, owner)
        existing = await self.get_asset(media_id)
        if existing is not None:  # completing the same upload twice (a retried request)
            return existing
        key = original_key(media_id)
        if await asyncio.to_thread(source.is_file):
            size = (await asyncio.to_thread(source.stat)).st_size
            await self.store.put_file(key, source, move=move)
        else:  # moved into the store already, then interrupted before the row was written
            info = await self.store.stat(key)
            if info is None:
                raise NotFound(f"the file for media {media_id} is gone")
            size = info.size
        if entry_id is None:
            entry_id = await self.catalog.create(
                {"kind": "video", "translations": {lang: {"title": (title or filename or media_id)[:300]}}},
                owner)
        now = iso()
        async with self.db.write() as conn:
            await conn.execute(media_assets.insert().values(
                id=media_id, entry_id=entry_id, owner_id=owner.id if owner else None,
                status="uploaded", progress=0.0, error=None, filename=filename[:255],
                filetype=filetype[:120], size=size, source_key=key,
                probe=None, duration=None, outputs=None, created_at=now, updated_at=now))
        await self.enqueue_processing(media_id)
        await self.catalog.set_media(entry_id, media_id)
        asset = await self.get_asset(media_id)
        assert asset is not None
        return asset

    async def check_attachable(self, entry_id: str, user: User | None) -> None:
        record = await self.catalog.get_record(entry_id)
        if record is None or (user is not None and not can_view(record, user)):
            raise NotFound(f"no entry {entry_id}", field="entry")
        if user is not None and not can_edit(record, user):
            raise Forbidden("only the entry's curator, reviewers and admins may attach media",
                            field="entry")

    async def enqueue_processing(self, media_id: str) -> str:
        return await self.queue.enqueue(PROCESS_JOB, {"media_id": media_id},
                                        job_id=process_job_id(media_id), ref=media_id)

    async def get_asset(self, media_id: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(media_assets)
                                      .where(media_assets.c.id == media_id))).first()
        return dict(row._mapping) if row is not None else None

    async def update_asset(self, media_id: str, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(media_assets.update().where(media_assets.c.id == media_id)
                               .values(updated_at=iso(), **values))

    async def assets_for_entry(self, entry_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(media_assets)
                                       .where(media_assets.c.entry_id == entry_id))).all()
        return [dict(r._mapping) for r in rows]

    async def reconcile(self) -> int:
        """Queue again every unfinished asset whose job is gone (crash between two writes)."""
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(media_assets.c.id).where(
                media_assets.c.status.not_in(FINAL_STATUSES)))).all()
        queued = 0
        for row in rows:
            job = await self.queue.get(process_job_id(row.id))
            if job is None or job.state in ("done", "cancelled"):
                await self.enqueue_processing(row.id)
                queued += 1
        return queued

    # -- entry deletion ------------------------------------------------------------------
    async def on_entry_changed(self, entry_id: str) -> None:
        """Catalog subscriber: a deleted entry cancels its media jobs and drops its files."""
        record = await self.catalog.get_record(entry_id)
        if record is not None:
            if record["media_id"]:
                self.forget_access(record["media_id"])  # visibility or status may have changed
            return
        for asset in await self.assets_for_entry(entry_id):
            self.forget_access(asset["id"])
            cancelled = await self.queue.cancel(ref=asset["id"])
            await self.update_asset(asset["id"], entry_id=None, status="failed",
                                    error="cancelled: the entry was deleted")
            await self.store.delete_prefix(stream_prefix(asset["id"]))
            await self.store.delete(asset["source_key"])
            log.info("entry %s deleted: media %s removed (%d jobs cancelled)", entry_id,
                     asset["id"], len(cancelled))

    # -- what callers see ----------------------------------------------------------------
    async def visible_record(self, media_id: str, who: User | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(asset, entry record) if ``who`` may see the media, else NotFound."""
        asset = await self.get_asset(media_id)
        record = await self.catalog.get_record(asset["entry_id"]) if asset and asset["entry_id"] else None
        if asset is None or record is None or not can_view(record, who):
            raise NotFound(f"no media {media_id}")
        return asset, record

    async def summary(self, media_id: str, request: web.Request) -> dict[str, Any] | None:
        try:
            asset, record = await self.visible_record(media_id, viewer(request))
        except NotFound:
            return None
        return await self.describe(asset, record)

    async def describe(self, asset: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        media_id = asset["id"]
        open_to_all = record["status"] == "published" and record["visibility"] == "public"
        query = "" if open_to_all else f"?token={self.tokens.issue(media_id)}"
        outputs = asset["outputs"] or {}
        images: list[dict[str, Any]] = outputs.get("images", [])
        ready = asset["status"] == "ready"

        def url(name: str | None) -> str | None:
            return f"/streams/{media_id}/{name}{query}" if ready and name else None

        captions = [{"lang": lang, "url": url(caption_name(lang))}
                    for lang in (await self.caption_langs(media_id) if ready else [])]
        return {
            "id": media_id, "entry": asset["entry_id"], "status": asset["status"],
            "progress": 1.0 if ready else round(float(asset["progress"] or 0.0), 4),
            "error": asset["error"], "duration": asset["duration"],
            "renditions": [{k: r.get(k) for k in ("width", "height", "bandwidth", "average_bandwidth",
                                                  "codecs", "frame_rate")}
                           for r in outputs.get("renditions", [])],
            "hls": url(outputs.get("hls")), "dash": url(outputs.get("dash")),
            "poster": url("poster.jpg" if outputs.get("poster") else None)
            or url(_image_named(images, "image-1280.jpg") or _image_named(images, "image.jpg")),
            "poster_small": url("poster-640.jpg" if outputs.get("poster") else None)
            or url(_image_named(images, "image-640.jpg") or _image_named(images, "image.jpg")),
            # Archive photos and scans: every re-encoded width, for srcset and zoom.
            "images": [{"url": url(i["file"]), "width": i["width"], "height": i["height"],
                        "type": i["type"]} for i in images],
            "storyboard": url("storyboard.vtt" if outputs.get("storyboard") else None),
            "captions": captions, "filename": asset["filename"], "size": asset["size"],
            "created_at": asset["created_at"], "updated_at": asset["updated_at"],
        }

    async def duration(self, media_id: str) -> float | None:
        asset = await self.get_asset(media_id)
        return float(asset["duration"]) if asset and asset["duration"] is not None else None

    async def may_stream(self, media_id: str, request: web.Request, token: str | None) -> bool:
        """Public published media are open; others need a valid token or a viewer who may see them."""
        record = await self._streamable_record(media_id)
        if record is None:
            return False
        if record["status"] == "published" and record["visibility"] == "public":
            return True
        return self.tokens.check(media_id, token) or can_view(record, viewer(request))

    async def _streamable_record(self, media_id: str) -> dict[str, Any] | None:
        """The entry of a ready asset. Players fetch a segment every few seconds, so the answer
        is kept for ``ACCESS_CACHE_SECONDS`` (only ready assets are cached)."""
        now = time.monotonic()
        cached = self._access_cache.get(media_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        asset = await self.get_asset(media_id)
        if asset is None or asset["status"] != "ready" or not asset["entry_id"]:
            return None
        record = await self.catalog.get_record(asset["entry_id"])
        if record is not None:
            if len(self._access_cache) > 10_000:
                self._access_cache.clear()
            self._access_cache[media_id] = (now + ACCESS_CACHE_SECONDS, record)
        return record

    def forget_access(self, media_id: str) -> None:
        self._access_cache.pop(media_id, None)

    # -- captions ------------------------------------------------------------------------
    async def caption_langs(self, media_id: str) -> list[str]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(media_captions.c.lang).where(
                media_captions.c.media_id == media_id).order_by(media_captions.c.lang))).all()
        return [r.lang for r in rows]

    async def captions_text(self, media_id: str) -> list[dict[str, str]]:
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(media_captions).where(
                media_captions.c.media_id == media_id).order_by(media_captions.c.lang))).all()
        return [{"lang": r.lang, "text": r.vtt} for r in rows]

    async def add_captions(self, media_id: str, lang: str, data: bytes, who: User) -> dict[str, Any]:
        from .captions import to_webvtt

        asset, record = await self.visible_record(media_id, who)
        if not can_edit(record, who):
            raise Forbidden("only the entry's curator, reviewers and admins may add captions")
        vtt = await asyncio.to_thread(to_webvtt, data)
        async with self._caption_lock:
            async with self.db.write() as conn:
                await conn.execute(media_captions.delete().where(
                    media_captions.c.media_id == media_id, media_captions.c.lang == lang))
                await conn.execute(media_captions.insert().values(
                    media_id=media_id, lang=lang, vtt=vtt, updated_at=iso()))
            if asset["status"] == "ready":
                await self._publish_captions(asset)
        await self.catalog.set_media(record["id"], media_id)  # tells search the text changed
        return await self.describe((await self.get_asset(media_id)) or asset, record)

    async def caption_files(self, media_id: str, duration: float, master: str,
                            mpd: str) -> dict[str, bytes]:
        """Caption files and the master/MPD declaring them (names relative to the stream dir)."""
        from .captions import add_subtitles_to_master, add_subtitles_to_mpd, subtitle_playlist

        captions = await self.captions_text(media_id)
        files: dict[str, bytes] = {}
        for caption in captions:
            vtt_name = caption_name(caption["lang"])
            files[vtt_name] = caption["text"].encode()
            files[caption_playlist_name(caption["lang"])] = subtitle_playlist(
                vtt_name.split("/")[-1], duration).encode()
        hls_tracks = [(c["lang"], c["lang"], caption_playlist_name(c["lang"])) for c in captions]
        dash_tracks = [(c["lang"], c["lang"], caption_name(c["lang"])) for c in captions]
        files["manifest.mpd"] = add_subtitles_to_mpd(mpd, dash_tracks).encode()
        files["master.m3u8"] = add_subtitles_to_master(master, hls_tracks).encode()
        return files

    async def _publish_captions(self, asset: dict[str, Any]) -> None:
        media_id = asset["id"]
        outputs = asset["outputs"] or {}
        master = await self.store.get_bytes(f"{stream_prefix(media_id)}/{outputs.get('hls')}")
        mpd = await self.store.get_bytes(f"{stream_prefix(media_id)}/{outputs.get('dash')}")
        if master is None or mpd is None:
            raise Conflict("the media's streams are not published")
        files = await self.caption_files(media_id, float(asset["duration"] or 0), master.decode(),
                                         mpd.decode())
        # Tracks first, then the manifests that point at them, so nothing dangles.
        for name in sorted(files, key=lambda n: n in ("manifest.mpd", "master.m3u8")):
            key = stream_key(media_id, name)
            assert key is not None
            await self.store.put_bytes(key, files[name])

    # -- demo ----------------------------------------------------------------------------
    async def ingest_demo_clips(self, records: list[dict[str, Any]]) -> int:
        from .demo import ingest_demo_clips

        return await ingest_demo_clips(self, records)


def _image_named(images: list[dict[str, Any]], name: str) -> str | None:
    return name if any(i["file"] == name for i in images) else None
