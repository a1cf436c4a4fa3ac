"""Locating the ffmpeg executable."""

from __future__ import annotations

import functools
import shutil


@functools.cache
def ffmpeg_binary() -> str:
    """The ffmpeg to run: the one on PATH if present, else the binary bundled by imageio-ffmpeg."""
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())
