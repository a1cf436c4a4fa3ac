"""Errors raised by the media library.

Rejections of client input are ``Invalid`` (a 4xx for the web layer); a failed transcode is an
internal failure that the job layer records on the media asset.
"""

from __future__ import annotations

from taichi_cloud.errors import Invalid


class MediaRejected(Invalid):
    """An uploaded file is not media we accept (unsafe, broken, too big or unsupported)."""

    title = "Media rejected"
    slug = "media-rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CaptionRejected(Invalid):
    """A caption file is neither usable WebVTT nor SRT."""

    title = "Captions rejected"
    slug = "captions-rejected"


class TranscodeFailed(RuntimeError):
    """ffmpeg exited unsuccessfully, timed out, or produced output that does not validate."""

    def __init__(self, message: str, *, stderr_tail: str = "", returncode: int | None = None):
        detail = f"{message}\n{stderr_tail}".rstrip() if stderr_tail else message
        super().__init__(detail)
        self.message = message
        self.stderr_tail = stderr_tail
        self.returncode = returncode
