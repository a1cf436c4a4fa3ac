"""``serve --demo``: synthetic clips for seed records with ``demo_clip``, run through the pipeline.

A record's ``demo_clip: {duration, pattern, frequency}`` names a lavfi picture source and a sine
tone; the clip (640x360, 30 fps) is generated with ffmpeg and then ingested like any upload.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tools import ffmpeg_binary

if TYPE_CHECKING:
    from .service import MediaService

log = logging.getLogger(__name__)

#: lavfi picture sources a seed record may name (all synthetic, none reads a file).
PATTERNS = frozenset({"testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc",
                      "yuvtestsrc", "pal75bars", "pal100bars", "mandelbrot", "cellauto", "life",
                      "colorspectrum"})
MAX_SECONDS = 120.0
CLIP_SIZE = "640x360"
CLIP_FPS = 30


def demo_clip_args(clip: dict[str, Any], target: Path) -> list[str]:
    """ffmpeg arguments for one demo clip; unknown patterns fall back to ``testsrc2``."""
    pattern = str(clip.get("pattern") or "testsrc2")
    if pattern not in PATTERNS:
        pattern = "testsrc2"
    seconds = min(MAX_SECONDS, max(1.0, float(clip.get("duration") or 10)))
    frequency = min(8000.0, max(40.0, float(clip.get("frequency") or 440)))
    return [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"{pattern}=s={CLIP_SIZE}:r={CLIP_FPS}",
            "-f", "lavfi", "-i", f"sine=frequency={frequency:g}:sample_rate=48000",
            "-t", f"{seconds:g}", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", str(target)]


async def make_demo_clip(clip: dict[str, Any], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        *demo_clip_args(clip, target), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg could not make a demo clip: {stderr.decode(errors='replace')[-500:]}")
    return target


async def ingest_demo_clips(service: MediaService, records: list[dict[str, Any]]) -> int:
    """Attach a generated clip to every seed entry with ``demo_clip`` and no media yet."""
    queued = 0
    for record in records:
        clip = record.get("demo_clip")
        if not isinstance(clip, dict):
            continue
        entry = await service.catalog.get_record(record["id"])
        if entry is None or entry["media_id"]:
            continue
        target = service.work_root / "demo" / f"{record['id']}.mp4"
        try:
            await make_demo_clip(clip, target)
            await service.create_asset(target, owner=None, entry_id=record["id"],
                                       filename=f"{record['id']}.mp4", filetype="video/mp4",
                                       move=True)
            queued += 1
        except (RuntimeError, OSError) as exc:
            log.warning("demo clip for %s failed: %s", record["id"], exc)
    log.info("demo clips: %d queued for transcoding", queued)
    return queued
