"""Probing untrusted uploads with PyAV.

Uploads are hostile until proven otherwise. FFmpeg demuxers such as ``hls``, ``concat`` and
``image2`` open *other* files named inside the upload, so an uploaded playlist could make us read
``/etc/passwd`` or a neighbour's private video. Three layers keep that from happening:

1. text files (playlists, concat scripts, SVG, subtitles) are refused before FFmpeg sees them;
2. FFmpeg only detects among an explicit list of demuxers (``format_whitelist``) and may only use
   the ``file`` protocol (``protocol_whitelist``), which nested opens inherit;
3. the file is re-opened with exactly the demuxer that was detected, and the same demuxer is
   handed to the transcoder (``ffmpeg -f``), so the transcoder cannot guess differently.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.stream

from taichi_cloud.media.errors import MediaRejected

# Demuxer names exactly as FFmpeg spells them; the first name of each is what ``-f`` takes.
ALLOWED_DEMUXERS: tuple[str, ...] = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "mpegts",
    "wav",
    "mp3",
    "flac",
    "ogg",
)
FORMAT_WHITELIST = ",".join(ALLOWED_DEMUXERS)
PROTOCOL_WHITELIST = "file"

ALLOWED_VIDEO_CODECS = frozenset(
    {
        "h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg",
        "prores", "dvvideo", "theora", "msmpeg4v3", "wmv2", "vc1", "ffv1", "dnxhd",
    }
)  # fmt: skip
ALLOWED_AUDIO_CODECS = frozenset(
    {
        "aac", "mp3", "mp2", "ac3", "eac3", "opus", "vorbis", "flac", "alac",
        "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8",
        "pcm_alaw", "pcm_mulaw", "pcm_s24be",
    }
)  # fmt: skip

MAX_DIMENSION = 8192
MAX_DURATION = 12 * 3600.0
MAX_IMAGE_PIXELS = 80_000_000
_PROBE_OPTIONS = {"probesize": "20000000", "analyzeduration": "20000000"}
_SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class VideoInfo:
    codec: str
    width: int  # coded width, before rotation
    height: int
    fps: float
    rotation: int  # degrees, one of 0/90/180/270, as the player must turn the picture
    pix_fmt: str | None
    bit_rate: int | None
    sample_aspect_ratio: Fraction = Fraction(1)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: pixel aspect ratio applied, rotation applied."""
        width = round(self.width * self.sample_aspect_ratio)
        if self.rotation in (90, 270):
            return self.height, width
        return width, self.height


@dataclass(frozen=True, slots=True)
class AudioInfo:
    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True, slots=True)
class ProbeResult:
    format_name: str  # the demuxer to use (``ffmpeg -f``), or the image format
    duration: float  # seconds; 0.0 for still images
    size: int  # bytes on disk
    video: VideoInfo | None
    audio: AudioInfo | None
    is_image: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.video is not None:
            data["video"]["sample_aspect_ratio"] = str(self.video.sample_aspect_ratio)
        return data


def probe_media(path: str | os.PathLike[str]) -> ProbeResult:
    """Inspect an uploaded file; raise ``MediaRejected`` unless it is media we accept."""
    file = Path(path)
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise MediaRejected(f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise MediaRejected("the file is empty")
    _refuse_text(head)
    if _looks_like_image(head):
        return _probe_image(file, size)
    return _probe_av(file, size)


def open_container(path: str | os.PathLike[str], demuxer: str | None = None) -> Any:
    """Open with the safety options; ``demuxer=None`` detects among the whitelist only."""
    options = {
        "protocol_whitelist": PROTOCOL_WHITELIST,
        "format_whitelist": FORMAT_WHITELIST,
        **_PROBE_OPTIONS,
    }
    if demuxer is not None and demuxer not in demuxer_short_names():
        raise MediaRejected(f"container format {demuxer!r} is not accepted")
    try:
        # Absolute, so a name like "subfile:..." or "concat:..." is a file name, never a protocol.
        return av.open(os.path.abspath(path), mode="r", format=demuxer, options=options)
    except av.error.FFmpegError as exc:
        raise MediaRejected(
            "not a supported audio or video container (accepted: MP4/MOV, Matroska/WebM, AVI, "
            "MPEG-TS, WAV, MP3, FLAC, Ogg)"
        ) from exc


def demuxer_short_names() -> frozenset[str]:
    return frozenset(name.split(",")[0] for name in ALLOWED_DEMUXERS)


def _refuse_text(head: bytes) -> None:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = stripped[:512].lower()
    if lowered.startswith(b"<svg") or (lowered.startswith(b"<?xml") and b"<svg" in lowered):
        raise MediaRejected("SVG images are not accepted")
    if b"\x00" in head:
        return
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the sniff boundary
            return
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if text and printable / len(text) > 0.97:
        if text.lstrip("\ufeff").startswith(("#EXTM3U", "ffconcat")):
            raise MediaRejected("playlists and concat scripts are not accepted as media")
        raise MediaRejected("this is a text file, not audio or video")


def _looks_like_image(head: bytes) -> bool:
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a"))
        or head.startswith((b"II*\x00", b"MM\x00*"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def _probe_image(file: Path, size: int) -> ProbeResult:
    from taichi_cloud.media.images import open_image_checked

    with open_image_checked(file) as image:
        orientation = image.getexif().get(0x0112, 1)
        rotation = {3: 180, 6: 90, 8: 270}.get(int(orientation), 0)
        video = VideoInfo(
            codec=str(image.format).lower(),
            width=image.width,
            height=image.height,
            fps=0.0,
            rotation=rotation,
            pix_fmt=image.mode,
            bit_rate=None,
        )
        return ProbeResult(str(image.format).lower(), 0.0, size, video, None, is_image=True)


def _probe_av(file: Path, size: int) -> ProbeResult:
    with open_container(file) as detected:
        demuxer = str(detected.format.name).split(",")[0]
    with open_container(file, demuxer) as container:
        if str(container.format.name).split(",")[0] != demuxer:
            raise MediaRejected("the container format changed between probes")
        duration = _duration(container)
        video = _video_info(container)
        audio = _audio_info(container)
        if video is None and audio is None:
            raise MediaRejected("the file has no audio or video we can play")
        _decode_first_frames(container, video is not None, audio is not None)
        _check_tail(container, duration)
        if video is not None:
            video = _with_decoded_rotation(container, video)
    return ProbeResult(demuxer, duration, size, video, audio, is_image=False)


def _duration(container: Any) -> float:
    if container.duration is None or container.duration <= 0:
        raise MediaRejected("the duration is unknown (truncated or streaming-only file)")
    duration = float(container.duration) / float(av.time_base)
    if duration > MAX_DURATION:
        raise MediaRejected(f"the file is longer than {MAX_DURATION / 3600:.0f} hours")
    return duration


def _video_info(container: Any) -> VideoInfo | None:
    attached = av.stream.Disposition.attached_pic
    streams = [s for s in container.streams.video if not (s.disposition & attached)]
    if not streams:
        return None
    stream = streams[0]
    codec = _codec_name(stream)
    if codec not in ALLOWED_VIDEO_CODECS:
        raise MediaRejected(f"video codec {codec!r} is not supported")
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width <= 0 or height <= 0:
        raise MediaRejected("the video has no picture size")
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise MediaRejected(f"video frames larger than {MAX_DIMENSION} pixels are not accepted")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not 0 < fps <= 240:
        raise MediaRejected("the video frame rate is missing or absurd")
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    sar = Fraction(sar) if sar and 0.1 < sar < 10 else Fraction(1)
    bit_rate = int(stream.codec_context.bit_rate or 0) or None
    pix_fmt = stream.codec_context.pix_fmt
    return VideoInfo(codec, width, height, round(fps, 3), 0, pix_fmt, bit_rate, sar)


def _audio_info(container: Any) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    codec = _codec_name(stream)
    if codec not in ALLOWED_AUDIO_CODECS:
        raise MediaRejected(f"audio codec {codec!r} is not supported")
    channels = int(stream.codec_context.layout.nb_channels or 0)
    sample_rate = int(stream.codec_context.sample_rate or 0)
    if not 0 < channels <= 32 or not 4000 <= sample_rate <= 384000:
        raise MediaRejected("the audio stream has an absurd layout or sample rate")
    return AudioInfo(codec, channels, sample_rate)


def _decode_first_frames(container: Any, want_video: bool, want_audio: bool) -> None:
    """Prove the streams decode: broken or truncated files fail here rather than in ffmpeg."""
    streams = []
    if want_video:
        streams.append(_first_video_stream(container))
    if want_audio:
        streams.append(container.streams.audio[0])
    pending = {stream.index for stream in streams}
    try:
        for packet_count, packet in enumerate(container.demux(*streams)):
            if packet.stream.index in pending and any(True for _ in packet.decode()):
                pending.discard(packet.stream.index)
            if not pending or packet_count > 2000:
                break
    except av.error.FFmpegError as exc:
        raise MediaRejected("the file is damaged and cannot be decoded") from exc
    if pending:
        raise MediaRejected("no decodable frames were found (damaged or truncated file)")


def _check_tail(container: Any, duration: float) -> None:
    """A file cut short (index intact, data missing) has no packets near its claimed end."""
    stream = container.streams.video[0] if container.streams.video else container.streams.audio[0]
    target = max(0.0, duration - 2.0)
    try:
        container.seek(int(target / float(stream.time_base)), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                if float(packet.pts * packet.time_base) >= target - 10.0:
                    return
                break
    except av.error.FFmpegError as exc:
        raise MediaRejected("the file is truncated (its end cannot be read)") from exc
    raise MediaRejected("the file is truncated (its end cannot be read)")


def _with_decoded_rotation(container: Any, video: VideoInfo) -> VideoInfo:
    """Rotation lives in the display matrix, which PyAV exposes on decoded frames."""
    container.seek(0)
    try:
        frame = next(container.decode(_first_video_stream(container)))
    except (StopIteration, av.error.FFmpegError) as exc:
        raise MediaRejected("the video cannot be decoded") from exc
    rotation = int(round(float(getattr(frame, "rotation", 0) or 0))) % 360
    if rotation not in (0, 90, 180, 270):
        rotation = 0  # odd angles (skew) are shown unrotated rather than guessed
    return VideoInfo(
        video.codec, video.width, video.height, video.fps, rotation, video.pix_fmt,
        video.bit_rate, video.sample_aspect_ratio,
    )  # fmt: skip


def _first_video_stream(container: Any) -> Any:
    attached = av.stream.Disposition.attached_pic
    return next(s for s in container.streams.video if not (s.disposition & attached))


def _codec_name(stream: Any) -> str:
    """The codec (``mp3``, ``av1``), not the decoder that happens to implement it (``mp3float``)."""
    codec = stream.codec_context.codec
    return str(getattr(codec, "canonical_name", None) or codec.name)
