"""Captions: SRT or WebVTT in, sanitized WebVTT out; wiring them into HLS and DASH manifests.

Cue text is shown inside our player pages, so it is treated like HTML from a stranger: only the
WebVTT cue tags ``b i u c v lang ruby rt`` survive (classes on ``c``, the speaker of ``v`` and the
language of ``lang`` are kept, nothing else), every other tag is removed, text is escaped.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape, unescape

from taichi_cloud.media.errors import CaptionRejected
from taichi_cloud.media.manifests import mpd_tag, parse_mpd, quoted, serialize_mpd

MAX_CAPTION_BYTES = 5_000_000
MAX_CUES = 50_000
SUBTITLE_GROUP = "subs"

_TIME = r"(?:(\d{1,3}):)?([0-5]?\d):([0-5]\d)[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(.*)$")
_SETTING = re.compile(
    r"^(?:vertical:(?:rl|lr)|line:-?\d+(?:\.\d+)?%?(?:,(?:start|center|end))?"
    r"|position:\d+(?:\.\d+)?%(?:,(?:line-left|center|line-right))?"
    r"|size:\d+(?:\.\d+)?%|align:(?:start|center|end|left|right))$"
)
_TAG = re.compile(r"<([^<>]*)>")
_CUE_TIMESTAMP = re.compile(r"^(?:\d{1,3}:)?[0-5]\d:[0-5]\d\.\d{3}$")
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_ALLOWED_TAGS = frozenset({"b", "i", "u", "c", "v", "lang", "ruby", "rt"})
_CLASS = re.compile(r"^[A-Za-z_][\w-]{0,31}$")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    settings: str
    text: str


def to_webvtt(data: bytes) -> str:
    """Convert an uploaded SRT or WebVTT file into clean WebVTT, or raise ``CaptionRejected``."""
    cues = parse_captions(data)
    lines = ["WEBVTT", ""]
    for cue in cues:
        timing = f"{_format_time(cue.start)} --> {_format_time(cue.end)}"
        lines += [f"{timing} {cue.settings}".rstrip(), cue.text, ""]
    return "\n".join(lines)


def parse_captions(data: bytes) -> list[Cue]:
    text = _decode(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(text):
        raise CaptionRejected("caption files are plain text; this one contains binary data")
    blocks = [block for block in re.split(r"\n[ \t]*\n", text.strip("\n")) if block.strip()]
    if blocks and blocks[0].lstrip().startswith("WEBVTT"):
        header = blocks.pop(0).split("\n")
        if not re.match(r"^WEBVTT(?:[ \t].*)?$", header[0].strip()):
            raise CaptionRejected("malformed WEBVTT header")
        glued = [index for index, line in enumerate(header) if "-->" in line]
        if glued:  # a cue written directly under the header, without the blank line
            blocks.insert(0, "\n".join(header[glued[0] :]))
    cues: list[Cue] = []
    for block in blocks:
        cue = _parse_block(block)
        if cue is not None:
            cues.append(cue)
        if len(cues) > MAX_CUES:
            raise CaptionRejected(f"more than {MAX_CUES} cues")
    if not cues:
        raise CaptionRejected("no caption cues were found (expected WebVTT or SRT)")
    cues.sort(key=lambda cue: (cue.start, cue.end))
    return cues


def _decode(data: bytes) -> str:
    if not data.strip():
        raise CaptionRejected("the caption file is empty")
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionRejected("the caption file is too large")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CaptionRejected("the caption file is not valid UTF-16") from exc
    if b"\x00" in data:
        raise CaptionRejected("caption files are plain text; this one contains binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:  # legacy Chinese subtitle files are often GB 18030 / GBK
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise CaptionRejected("caption files must be UTF-8 text") from exc


def _parse_block(block: str) -> Cue | None:
    lines = block.split("\n")
    head = lines[0].strip()
    if head.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in head:
        return None  # comments, CSS and regions are never passed through
    # The timing line may be preceded by a cue identifier (WebVTT) or a counter (SRT).
    timing_index = next((i for i, line in enumerate(lines[:2]) if _TIMING.match(line)), None)
    if timing_index is None:
        return None
    match = _TIMING.match(lines[timing_index])
    assert match is not None
    start, end = _seconds(match.groups()[0:4]), _seconds(match.groups()[4:8])
    if end <= start:
        return None
    text = sanitize_cue_text("\n".join(lines[timing_index + 1 :]))
    if not text.strip():
        return None
    return Cue(start, end, _clean_settings(match.group(9)), text)


def _seconds(parts: Sequence[str | None]) -> float:
    hours, minutes, seconds, fraction = parts
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + millis / 1000


def _format_time(value: float) -> str:
    millis = int(round(value * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _clean_settings(raw: str) -> str:
    # SRT coordinates (X1:.. Y1:..) and unknown or malformed settings are dropped.
    return " ".join(token for token in raw.split() if _SETTING.match(token))


def sanitize_cue_text(text: str) -> str:
    text = _ASS_OVERRIDE.sub("", text).replace("-->", "\u2192")
    output: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        output.append(_escape_text(text[position : match.start()]))
        output.append(_allowed_tag(match.group(1)))
        position = match.end()
    output.append(_escape_text(text[position:]))
    lines = [line.strip() for line in "".join(output).split("\n")]
    return "\n".join(line for line in lines if line)


def _escape_text(text: str) -> str:
    return escape(unescape(text), quote=False)


def _allowed_tag(inner: str) -> str:
    inner = inner.strip()
    if _CUE_TIMESTAMP.match(inner):
        return f"<{inner}>"  # karaoke-style timestamp tag
    closing = inner.startswith("/")
    body = inner[1:].strip() if closing else inner
    name_part, _, annotation = body.partition(" ")
    name, *classes = name_part.split(".")
    name = name.lower()
    if name not in _ALLOWED_TAGS:
        return ""
    if closing:
        return f"</{name}>"
    kept = "".join(f".{cls}" for cls in classes if name == "c" and _CLASS.match(cls))
    if name == "v":
        speaker = re.sub(r"[<>&\"]", "", annotation).strip()[:80]
        return f"<v {speaker}>" if speaker else "<v>"
    if name == "lang":
        tag = annotation.strip()
        return f"<lang {tag}>" if _LANG.match(tag) else ""
    return f"<{name}{kept}>"


# -- manifests -------------------------------------------------------------------------------


def subtitle_playlist(vtt_uri: str, duration: float) -> str:
    """An HLS media playlist with the whole WebVTT file as its single segment."""
    duration = max(duration, 0.001)
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration))}",
            "#EXT-X-MEDIA-SEQUENCE:1",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXTINF:{duration:.3f},",
            vtt_uri,
            "#EXT-X-ENDLIST",
            "",
        ]
    )


def add_subtitles_to_master(master_text: str, tracks: Iterable[tuple[str, str, str]]) -> str:
    """Add ``(lang, name, subtitle_playlist_uri)`` tracks; replaces subtitles added before."""
    tracks = list(tracks)
    lines = [line for line in master_text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an HLS master playlist")
    kept = [line for line in lines if not _is_our_subtitle_media(line)]
    media = [_subtitle_media(lang, name, uri, index == 0) for index, (lang, name, uri) in enumerate(tracks)]
    out: list[str] = []
    inserted = False
    for line in kept:
        if line.startswith("#EXT-X-STREAM-INF:"):
            if not inserted:
                out.extend(media)
                inserted = True
            line = _with_subtitles_attribute(line, bool(tracks))
        out.append(line)
    if not inserted:
        out.extend(media)
    return "\n".join(out) + "\n"


def _is_our_subtitle_media(line: str) -> bool:
    return line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line and f'GROUP-ID="{SUBTITLE_GROUP}"' in line


def _subtitle_media(lang: str, name: str, uri: str, default: bool) -> str:
    if not _LANG.match(lang):
        raise ValueError(f"not a language tag: {lang!r}")
    return (
        f"#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID={quoted(SUBTITLE_GROUP)},NAME={quoted(name or lang)},"
        f"LANGUAGE={quoted(lang)},DEFAULT={'YES' if default else 'NO'},AUTOSELECT=YES,FORCED=NO,"
        f"URI={quoted(uri)}"
    )


def _with_subtitles_attribute(line: str, present: bool) -> str:
    line = re.sub(r',SUBTITLES="[^"]*"', "", line)
    return f'{line},SUBTITLES="{SUBTITLE_GROUP}"' if present else line


def add_subtitles_to_mpd(mpd_text: str, tracks: Iterable[tuple[str, str, str]]) -> str:
    """Add one text AdaptationSet per ``(lang, name, vtt_uri)`` track to the first Period."""
    root = parse_mpd(mpd_text)
    period = root.find(mpd_tag("Period"))
    if period is None:
        raise ValueError("the MPD has no Period")
    for adaptation in list(period.findall(mpd_tag("AdaptationSet"))):
        if adaptation.get("contentType") == "text" and adaptation.get("mimeType") == "text/vtt":
            period.remove(adaptation)
    used = [int(a.get("id", "0")) for a in period.findall(mpd_tag("AdaptationSet")) if (a.get("id") or "").isdigit()]
    next_id = max(used, default=-1) + 1
    for offset, (lang, name, uri) in enumerate(tracks):
        if not _LANG.match(lang):
            raise ValueError(f"not a language tag: {lang!r}")
        adaptation = ET.SubElement(
            period,
            mpd_tag("AdaptationSet"),
            {"id": str(next_id + offset), "contentType": "text", "mimeType": "text/vtt", "lang": lang},
        )
        ET.SubElement(adaptation, mpd_tag("Role"), {"schemeIdUri": "urn:mpeg:dash:role:2011", "value": "subtitle"})
        if name:
            ET.SubElement(adaptation, mpd_tag("Label")).text = name
        representation = ET.SubElement(
            adaptation, mpd_tag("Representation"), {"id": f"subs-{lang}", "bandwidth": "256"}
        )
        ET.SubElement(representation, mpd_tag("BaseURL")).text = uri
    return serialize_mpd(root)
