"""The ``media.process`` job: probe -> ladder -> posters/storyboard -> publish.

Status moves ``uploaded -> probing -> transcoding -> ready | failed``, each step one write.
Everything is built in a private work directory and published with one atomic swap
(``BlobStore.publish_tree``), so a crash at any point leaves either nothing or the whole ladder.
A rejected file fails at once with the reason; a failed transcode is retried by the worker.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..jobs.queue import Job, PermanentFailure
from ..jobs.worker import JobContext, JobKind
from ..storage.keys import stream_prefix
from .errors import MediaRejected
from .probe import ProbeResult, probe_media
from .service import MediaService
from .transcode import LadderResult, transcode_ladder_async

log = logging.getLogger(__name__)

PROGRESS_WRITE_SECONDS = 0.5  # at most two progress writes a second per job
STILL_WORK_SHARE = 0.05  # posters and storyboard after the encode


def transcode_timeout(duration: float) -> float:
    """Generous: 20x real time, at least 10 minutes."""
    return max(600.0, duration * 20)


def process_job_kind(service_of: Callable[[], MediaService]) -> JobKind:
    """The job kind; ``service_of`` gives the app's service once the app has started."""

    async def run(context: JobContext) -> None:
        await process_media(service_of(), context)

    async def on_failure(job: Job, error: str) -> None:
        service = service_of()
        media_id = str(job.payload.get("media_id", ""))
        if await service.get_asset(media_id) is not None:
            await service.update_asset(media_id, status="failed", error=error[:2000])

    return JobKind(run=run, on_failure=on_failure, timeout=24 * 3600.0)


async def process_media(service: MediaService, context: JobContext) -> None:
    media_id = str(context.job.payload["media_id"])
    asset = await service.get_asset(media_id)
    if asset is None or not asset["entry_id"]:
        raise PermanentFailure(f"media {media_id} no longer exists")
    if asset["status"] == "ready":
        return
    work = service.work_root / media_id / f"try-{context.job.tries}"
    await asyncio.to_thread(shutil.rmtree, work, True)
    await asyncio.to_thread(work.mkdir, parents=True)
    try:
        await _process(service, context, asset, work)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _process(service: MediaService, context: JobContext, asset: dict[str, Any],
                   work: Path) -> None:
    media_id = asset["id"]
    await service.update_asset(media_id, status="probing", progress=0.0, error=None)
    source = await service.store.fetch_to(asset["source_key"], work / "source")
    try:
        probe = await asyncio.to_thread(probe_media, source)
        if probe.is_image:
            await _publish_image(service, media_id, source, probe, work / "publish")
            return
    except MediaRejected as exc:  # the failure hook records the reason on the asset
        raise PermanentFailure(exc.reason) from None

    await service.update_asset(media_id, status="transcoding", probe=probe.as_dict(),
                               duration=round(probe.duration, 3), progress=0.0)
    progress = _ProgressWriter(service, context, media_id)
    staged = work / "publish"
    ladder = await transcode_ladder_async(
        source, probe, work / "scratch", staged, preset=service.settings.x264_preset,
        on_progress=lambda f: progress.update(f * (1 - STILL_WORK_SHARE)),
        timeout=transcode_timeout(probe.duration))
    await progress.flush()
    context.media_seconds = ladder.duration
    stills = await asyncio.to_thread(_write_stills, source, probe, staged)
    await _add_captions(service, media_id, ladder, staged)
    await service.store.publish_tree(stream_prefix(media_id), staged)
    outputs = {
        "hls": ladder.hls, "dash": ladder.dash, "segment_count": ladder.segment_count,
        "renditions": [{"width": r.width, "height": r.height, "bandwidth": r.bandwidth,
                        "average_bandwidth": r.average_bandwidth, "codecs": r.codecs,
                        "frame_rate": r.frame_rate, "playlist": r.playlist}
                       for r in ladder.renditions],
        **stills,
    }
    await service.update_asset(media_id, status="ready", progress=1.0, outputs=outputs,
                               duration=round(ladder.duration, 3), error=None)
    log.info("media %s ready: %d renditions, %d segments", media_id, len(ladder.renditions),
             ladder.segment_count)


async def _publish_image(service: MediaService, media_id: str, source: Path, probe: ProbeResult,
                         staged: Path) -> None:
    """Archive photos and scans: bounded, upright, metadata-free re-encodes in several widths."""
    from .images import make_thumbnails

    await service.update_asset(media_id, status="transcoding", probe=probe.as_dict(), progress=0.0)
    written = await asyncio.to_thread(make_thumbnails, source, staged)
    await service.store.publish_tree(stream_prefix(media_id), staged)
    images = [{"file": w.path.name, "width": w.width, "height": w.height, "type": w.mime}
              for w in written]
    await service.update_asset(media_id, status="ready", progress=1.0, outputs={"images": images},
                               error=None)
    log.info("media %s ready: %d image files", media_id, len(images))


def _write_stills(source: Path, probe: ProbeResult, staged: Path) -> dict[str, bool]:
    """Poster (+640 px) and storyboard for video; a still that fails is left out, not fatal."""
    from .images import build_storyboard, pick_poster, write_posters

    if probe.video is None:
        return {"poster": False, "storyboard": False}
    done = {"poster": False, "storyboard": False}
    try:
        write_posters(pick_poster(source, probe), staged)
        done["poster"] = True
    except (MediaRejected, OSError, ValueError) as exc:
        log.warning("no poster for %s: %s", source, exc)
    try:
        build_storyboard(source, probe, staged)
        done["storyboard"] = True
    except (MediaRejected, OSError, ValueError) as exc:
        log.warning("no storyboard for %s: %s", source, exc)
    return done


async def _add_captions(service: MediaService, media_id: str, ladder: LadderResult,
                        staged: Path) -> None:
    """Captions posted before the ladder was ready go into the published set."""
    if not await service.caption_langs(media_id):
        return
    master = await asyncio.to_thread((staged / ladder.hls).read_text, "utf-8")
    mpd = await asyncio.to_thread((staged / ladder.dash).read_text, "utf-8")
    files = await service.caption_files(media_id, ladder.duration, master, mpd)

    def write_all() -> None:
        for name, data in files.items():
            path = staged / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    await asyncio.to_thread(write_all)


class _ProgressWriter:
    """ffmpeg reports progress from its reader; store it at most every half second."""

    def __init__(self, service: MediaService, context: JobContext, media_id: str) -> None:
        self.service = service
        self.context = context
        self.media_id = media_id
        self.fraction = 0.0
        self.written = 0.0
        self.last_write = 0.0
        self._task: asyncio.Task[None] | None = None

    def update(self, fraction: float) -> None:
        self.fraction = max(self.fraction, fraction)
        self.context.report_progress(self.fraction)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from the publishing thread; flush() writes it
            return
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_WRITE_SECONDS and (self._task is None or self._task.done()):
            self.last_write = now
            self._task = loop.create_task(self._write())

    async def _write(self) -> None:
        value = round(self.fraction, 4)
        if value > self.written:
            self.written = value
            await self.service.update_asset(self.media_id, progress=value)

    async def flush(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._write()
