"""Small readers and writers for the HLS playlists and DASH MPDs that we produce ourselves."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
_NAMESPACES = {
    "": MPD_NS,
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xlink": "http://www.w3.org/1999/xlink",
}
for _prefix, _uri in _NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)


def mpd_tag(name: str) -> str:
    return f"{{{MPD_NS}}}{name}"


def parse_mpd(text: str) -> ET.Element:
    root = ET.fromstring(text)
    if root.tag != mpd_tag("MPD"):
        raise ValueError("not a DASH MPD")
    return root


def serialize_mpd(root: ET.Element) -> str:
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


@dataclass(frozen=True, slots=True)
class Segment:
    uri: str
    duration: float


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    init_uri: str | None
    segments: tuple[Segment, ...]

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self.segments)

    def bandwidth(self, directory: Path) -> tuple[int, int]:
        """(peak, average) bits per second measured from the segment files on disk.

        The peak ignores very short segments (the tail of the file), whose bitrate would be
        dominated by a single keyframe; that is how packagers report HLS BANDWIDTH too.
        """
        sizes = [(directory / s.uri).stat().st_size * 8 for s in self.segments]
        total = sum(sizes)
        average = total / self.duration if self.duration > 0 else 0.0
        rates = [bits / s.duration for bits, s in zip(sizes, self.segments, strict=True) if s.duration >= 1.0]
        peak = max(rates) if rates else average
        return int(math.ceil(max(peak, average))), int(math.ceil(average))


_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)")
_MAP = re.compile(r'^#EXT-X-MAP:.*URI="([^"]+)"')


def parse_media_playlist(text: str) -> MediaPlaylist:
    if not text.startswith("#EXTM3U"):
        raise ValueError("not an HLS playlist")
    init_uri = None
    segments: list[Segment] = []
    pending: float | None = None
    for line in text.splitlines():
        line = line.strip()
        if match := _MAP.match(line):
            init_uri = match.group(1)
        elif match := _EXTINF.match(line):
            pending = float(match.group(1))
        elif line and not line.startswith("#"):
            if pending is None:
                raise ValueError(f"segment {line!r} has no #EXTINF")
            segments.append(Segment(line, pending))
            pending = None
    return MediaPlaylist(init_uri, tuple(segments))


def write_vod_media_playlist(playlist: MediaPlaylist) -> str:
    """A clean VOD playlist: no wall-clock dates (they mean nothing for on-demand video)."""
    target = max((round(s.duration) for s in playlist.segments), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if playlist.init_uri:
        lines.append(f'#EXT-X-MAP:URI="{playlist.init_uri}"')
    for segment in playlist.segments:
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        lines.append(segment.uri)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def quoted(value: str) -> str:
    """An HLS quoted-string: no double quotes, no line breaks (RFC 8216 section 4.2)."""
    cleaned = re.sub(r'["\r\n]+', " ", value).strip()
    return f'"{cleaned}"'
