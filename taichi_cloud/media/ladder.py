"""Planning the adaptive-bitrate ladder and building its one-pass ffmpeg command.

One ffmpeg process decodes the source once, ``split``s the picture into one ``scale`` branch per
rung and writes CMAF fragmented-MP4 segments with the ``dash`` muxer. ``-hls_playlist 1`` makes the
same muxer write HLS media playlists and a master next to ``manifest.mpd``, so HLS and DASH
players share the very same ``init-*.m4s`` / ``chunk-*.m4s`` files.

The builders are pure: they return data and argument lists and never run anything.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import ffmpeg

from taichi_cloud.media.probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST, ProbeResult

SEGMENT_SECONDS = 4
GOP_SECONDS = 2
MAX_FPS = 60.0
AUDIO_BITRATE = 128_000
AUDIO_SAMPLE_RATE = 48_000
MANIFEST_NAME = "manifest.mpd"
MASTER_NAME = "master.m3u8"
PRESETS = frozenset(
    {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"}
)

# (short side of the picture, video bitrate at <= 30 fps)
STANDARD_RUNGS: tuple[tuple[int, int], ...] = (
    (1080, 5_000_000),
    (720, 2_800_000),
    (480, 1_400_000),
    (360, 800_000),
    (240, 400_000),
)
HIGH_FPS_FACTOR = 1.5  # extra bits for 50/60 fps sources


@dataclass(frozen=True, slots=True)
class VideoRung:
    width: int
    height: int
    bitrate: int  # target video bits per second
    maxrate: int
    bufsize: int
    # Pixel aspect ratio: 1 when the size divides evenly, otherwise the tiny correction
    # (e.g. 640:639 for 426x240 of a 16:9 source) that keeps every rung at exactly the source
    # display aspect ratio, which DASH requires of all Representations in one AdaptationSet.
    sar: Fraction = Fraction(1)

    @property
    def label(self) -> str:
        return f"{min(self.width, self.height)}p"


@dataclass(frozen=True, slots=True)
class LadderPlan:
    demuxer: str  # the input demuxer chosen by the probe, passed as ``-f``
    duration: float
    rungs: tuple[VideoRung, ...]  # empty for audio-only sources
    fps: float  # output frame rate (0 when audio-only)
    audio: bool  # one AAC stereo rendition
    preset: str = "veryfast"
    segment_seconds: int = SEGMENT_SECONDS
    source_fps: float = 0.0

    @property
    def has_video(self) -> bool:
        return bool(self.rungs)

    @property
    def gop_frames(self) -> int:
        return max(1, round(GOP_SECONDS * self.fps))

    @property
    def stream_count(self) -> int:
        return len(self.rungs) + int(self.audio)


def plan_ladder(probe: ProbeResult, preset: str = "veryfast") -> LadderPlan:
    """Choose rungs that never upscale, with even sizes that keep the display aspect ratio."""
    if preset not in PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}")
    if probe.is_image:
        raise ValueError("still images are not transcoded into a ladder")
    audio = probe.audio is not None
    if probe.video is None:
        if not audio:
            raise ValueError("nothing to transcode: no audio and no video")
        return LadderPlan(probe.format_name, probe.duration, (), 0.0, True, preset)
    display_w, display_h = probe.video.display_size
    fps = _output_fps(probe.video.fps)
    return LadderPlan(
        probe.format_name,
        probe.duration,
        tuple(_rungs(display_w, display_h, fps)),
        fps,
        audio,
        preset,
        source_fps=probe.video.fps,
    )


def _output_fps(source_fps: float) -> float:
    fps = source_fps
    while fps > MAX_FPS:  # 120 -> 60, 100 -> 50: halve rather than judder
        fps /= 2
    return round(fps, 3)


def _rungs(display_w: int, display_h: int, fps: float) -> list[VideoRung]:
    """Rung names refer to the short side, so portrait phone video gets the same quality."""
    short, long_ = min(display_w, display_h), max(display_w, display_h)
    aspect = long_ / short
    factor = HIGH_FPS_FACTOR if fps > 31 else 1.0
    chosen = [(size, rate) for size, rate in STANDARD_RUNGS if size <= short]
    if not chosen:  # a tiny source: one rung at its own size
        chosen = [(short, STANDARD_RUNGS[-1][1] * short // STANDARD_RUNGS[-1][0])]
    rungs = []
    for size, rate in chosen:
        short_side = _even(size)
        long_side = _even(short_side * aspect)
        width, height = (long_side, short_side) if display_w >= display_h else (short_side, long_side)
        bitrate = int(rate * factor)
        sar = Fraction(display_w * height, display_h * width)
        rungs.append(
            VideoRung(width, height, bitrate, int(bitrate * 1.07), int(bitrate * 1.5), sar)
        )
    return rungs


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def build_ladder_args(plan: LadderPlan, src: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[str]:
    """ffmpeg arguments (without the executable) that write the whole ladder into ``out_dir``."""
    # An absolute path can never be mistaken for "protocol:..." or for an option ("-...").
    source = ffmpeg.input(
        os.path.abspath(src),
        f=plan.demuxer,
        protocol_whitelist=PROTOCOL_WHITELIST,
        format_whitelist=FORMAT_WHITELIST,
    )
    outputs: list[Any] = []
    options: dict[str, Any] = {
        "f": "dash",
        "seg_duration": plan.segment_seconds,
        "use_template": 1,
        "use_timeline": 1,
        "hls_playlist": 1,
        "hls_master_name": MASTER_NAME,
        "streaming": 0,
        "init_seg_name": "init-$RepresentationID$.m4s",
        "media_seg_name": "chunk-$RepresentationID$-$Number%05d$.m4s",
        "adaptation_sets": _adaptation_sets(plan),
        "map_metadata": -1,
        "map_chapters": -1,
    }
    if plan.has_video:
        outputs.extend(_video_branches(plan, source))
        options.update(_video_options(plan))
    if plan.audio:
        outputs.append(source["a:0"])
        options.update(
            {"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": 2, "ar": AUDIO_SAMPLE_RATE}
        )
    target = os.path.join(os.path.abspath(out_dir), MANIFEST_NAME)
    stream = ffmpeg.output(*outputs, target, **options)
    return [str(arg) for arg in stream.get_args()]


def _adaptation_sets(plan: LadderPlan) -> str:
    if plan.has_video and plan.audio:
        return "id=0,streams=v id=1,streams=a"
    return "id=0,streams=v" if plan.has_video else "id=0,streams=a"


def _video_branches(plan: LadderPlan, source: Any) -> list[Any]:
    picture = source["v:0"]
    if plan.fps and abs(plan.fps - plan.source_fps) > 0.01:  # else -fps_mode cfr suffices
        picture = picture.filter("fps", fps=plan.fps)
    picture = picture.filter("format", "yuv420p")
    if len(plan.rungs) == 1:
        copies = [picture]
    else:
        split = picture.filter_multi_output("split", len(plan.rungs))
        copies = [split[index] for index in range(len(plan.rungs))]
    return [
        copy.filter("scale", rung.width, rung.height, flags="bicubic").filter(
            "setsar", f"{rung.sar.numerator}/{rung.sar.denominator}", max=65535
        )
        for copy, rung in zip(copies, plan.rungs, strict=True)
    ]


def _video_options(plan: LadderPlan) -> dict[str, Any]:
    gop = plan.gop_frames
    options: dict[str, Any] = {
        "c:v": "libx264",
        "preset": plan.preset,
        "profile:v": "high",
        "pix_fmt": "yuv420p",
        "g": gop,
        "keyint_min": gop,
        "sc_threshold": 0,
        "x264-params": f"scenecut=0:open_gop=0:keyint={gop}:min-keyint={gop}",
        "force_key_frames": f"expr:gte(t,n_forced*{GOP_SECONDS})",
        "fps_mode": "cfr",
    }
    for index, rung in enumerate(plan.rungs):
        options[f"b:v:{index}"] = rung.bitrate
        options[f"maxrate:v:{index}"] = rung.maxrate
        options[f"bufsize:v:{index}"] = rung.bufsize
    return options


def expected_segment_count(plan: LadderPlan) -> int:
    return max(1, math.ceil(plan.duration / plan.segment_seconds - 1e-6))
