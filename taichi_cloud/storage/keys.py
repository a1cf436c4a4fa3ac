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


# -- published trees on object stores ----------------------------------------------------
# A stream directory is published as a whole. Object stores have no directory rename, so the
# set is uploaded under a fresh version and one small pointer object names the live version:
#
#   streams/<media_id>/.pointer                 the live version id (one PUT switches it)
#   streams/<media_id>/.v/<version>/<relative>  the files of that version
#
# ``.pointer`` and ``.v`` start with a dot, which :func:`stream_key` never produces.
POINTER_NAME = ".pointer"
VERSIONS_DIR = ".v"
_VERSION = re.compile(r"^[0-9a-z-]{1,64}$")


def split_tree(key: str) -> tuple[str, str] | None:
    """(tree prefix, relative name) of a key inside a published tree, else None."""
    parts = key.split("/", 2)
    if len(parts) == 3 and parts[0] == STREAMS and _SAFE_ID.match(parts[1]) and parts[2]:
        return f"{parts[0]}/{parts[1]}", parts[2]
    return None


def is_tree_prefix(prefix: str) -> bool:
    parts = prefix.split("/")
    return len(parts) == 2 and parts[0] == STREAMS and bool(_SAFE_ID.match(parts[1]))


def tree_pointer_key(prefix: str) -> str:
    return f"{prefix}/{POINTER_NAME}"


def tree_version_prefix(prefix: str, version: str) -> str:
    if not _VERSION.match(version):
        raise ValueError(f"not a tree version: {version!r}")
    return f"{prefix}/{VERSIONS_DIR}/{version}"


def parse_versioned_key(key: str) -> tuple[str, str, str] | None:
    """(tree prefix, version, relative) of a stored versioned key, else None."""
    parts = key.split("/", 4)
    if (len(parts) == 5 and parts[0] == STREAMS and _SAFE_ID.match(parts[1])
            and parts[2] == VERSIONS_DIR and _VERSION.match(parts[3]) and parts[4]):
        return f"{parts[0]}/{parts[1]}", parts[3], parts[4]
    return None
