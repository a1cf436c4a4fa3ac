"""Synthetic clips from ffmpeg's lavfi sources, for demo data, tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from taichi_cloud.media.tools import ffmpeg_binary


def make_test_clip(
    path: str | os.PathLike[str],
    *,
    seconds: float = 4.0,
    size: str = "640x360",
    fps: int = 30,
    video: bool = True,
    audio: bool = True,
    rotation: int | None = None,
    video_source: str = "testsrc2",
    video_codec: Sequence[str] = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    audio_codec: Sequence[str] = ("-c:a", "aac", "-b:a", "96k"),
    extra: Sequence[str] = (),
) -> Path:
    """Write a short clip (``testsrc2`` picture, 440 Hz tone) and return its path.

    ``rotation`` stores a display matrix (degrees counter-clockwise), as phones do.
    """
    target = Path(path)
    args = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", f"{video_source}=s={size}:r={fps}:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if not (video or audio):
        raise ValueError("a clip needs audio or video")
    if video:
        args += list(video_codec)
    if audio:
        args += list(audio_codec)
    args += list(extra)
    args.append(str(target))
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    if rotation is not None:
        rotated = target.with_name(f"rotated-{target.name}")
        subprocess.run(
            [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y",
             "-display_rotation", str(rotation), "-i", str(target), "-c", "copy", str(rotated)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        os.replace(rotated, target)
    return target
