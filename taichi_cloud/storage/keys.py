"""The object-key scheme: the one place that decides where every blob lives.

```
originals/<media_id>/source          the uploaded file, as received
streams/<media_id>/master.m3u8       published ladder (HLS master, MPD, segments, posters, ...)
streams/<media_id>/captions/<lang>.vtt
```
Media ids are server-made (``util.new_id``); file names inside a stream directory come from our
own transcoder. :func:`stream_key` still refuses anything that could leave the directory.
"""

from __future__ import annotations

import re

ORIGINALS = "originals"
STREAMS = "streams"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_id(media_id: str) -> str:
    if not _SAFE_ID.match(media_id):
        raise ValueError(f"not a media id: {media_id!r}")
    return media_id


def original_key(media_id: str) -> str:
    return f"{ORIGINALS}/{check_id(media_id)}/source"


def stream_prefix(media_id: str) -> str:
    return f"{STREAMS}/{check_id(media_id)}"


def stream_key(media_id: str, relative: str) -> str | None:
    """The key of a file inside a published stream directory, or None if the name is unsafe."""
    parts = relative.split("/")
    if not 1 <= len(parts) <= 2 or not all(_SAFE_NAME.match(p) and ".." not in p for p in parts):
        return None
    return f"{stream_prefix(media_id)}/{relative}"


def caption_name(lang: str) -> str:
    """``captions/<lang>.vtt`` (``lang`` is a validated BCP 47 tag)."""
    return f"captions/{lang}.vtt"


def caption_playlist_name(lang: str) -> str:
    return f"captions/{lang}.m3u8"
