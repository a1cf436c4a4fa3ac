"""Transcoding a probed source into the published HLS + DASH ladder.

ffmpeg writes into a private directory under ``work_dir``. We then read the real encoded streams
back (PyAV) to write an HLS master with honest BANDWIDTH / AVERAGE-BANDWIDTH / RESOLUTION /
FRAME-RATE / CODECS, fix the MPD bandwidths the same way, and publish the directory with renames
so readers see either the old ladder or the new one, never a half-written one.
"""

from __future__ import annotations

import ctypes
import errno
import io
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from taichi_cloud.media.errors import TranscodeFailed
from taichi_cloud.media.ladder import (
    MANIFEST_NAME,
    MASTER_NAME,
    LadderPlan,
    build_ladder_args,
    plan_ladder,
)
from taichi_cloud.media.manifests import (
    MediaPlaylist,
    mpd_tag,
    parse_media_playlist,
    parse_mpd,
    quoted,
    serialize_mpd,
    write_vod_media_playlist,
)
from taichi_cloud.media.probe import ProbeResult
from taichi_cloud.media.runner import ProgressCallback, run_ffmpeg, run_ffmpeg_async

ENCODE_SHARE = 0.95  # of the progress bar; the rest is validation and publishing
AUDIO_GROUP = "audio"


@dataclass(frozen=True, slots=True)
class Rendition:
    width: int | None  # None for an audio-only ladder
    height: int | None
    bandwidth: int  # peak bits/s including the audio rendition, as in the HLS master
    average_bandwidth: int
    codecs: str  # RFC 6381, e.g. "avc1.64001f,mp4a.40.2"
    frame_rate: float | None
    playlist: str  # the HLS media playlist of this rendition


@dataclass(frozen=True, slots=True)
class LadderResult:
    directory: Path
    hls: str  # master playlist file name inside ``directory``
    dash: str  # MPD file name inside ``directory``
    duration: float
    renditions: tuple[Rendition, ...]
    segment_count: int

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["directory"] = str(self.directory)
        return data


@dataclass(frozen=True, slots=True)
class _Representation:
    rep_id: str
    kind: str  # "video" | "audio"
    playlist_name: str
    playlist: MediaPlaylist
    peak: int
    average: int
    codec: str
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    channels: int = 2


def transcode_ladder(
    src: str | os.PathLike[str],
    probe: ProbeResult,
    work_dir: str | os.PathLike[str],
    final_dir: str | os.PathLike[str],
    preset: str = "veryfast",
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> LadderResult:
    """Encode, validate and atomically publish the ladder for ``src`` at ``final_dir``."""
    plan = plan_ladder(probe, preset)
    scratch, out_dir = _scratch_dirs(work_dir)
    try:
        run_ffmpeg(build_ladder_args(plan, src, out_dir), plan.duration, _scaled(on_progress), timeout)
        return _finish(plan, out_dir, Path(final_dir), on_progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def transcode_ladder_async(
    src: str | os.PathLike[str],
    probe: ProbeResult,
    work_dir: str | os.PathLike[str],
    final_dir: str | os.PathLike[str],
    preset: str = "veryfast",
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - passed on to run_ffmpeg_async
) -> LadderResult:
    """``transcode_ladder`` for asyncio: cancelling it kills ffmpeg and removes the scratch."""
    import asyncio

    plan = plan_ladder(probe, preset)
    scratch, out_dir = _scratch_dirs(work_dir)
    try:
        args = build_ladder_args(plan, src, out_dir)
        await run_ffmpeg_async(args, plan.duration, _scaled(on_progress), timeout)
        return await asyncio.to_thread(_finish, plan, out_dir, Path(final_dir), on_progress)
    finally:
        # A failed or cancelled ladder may leave gigabytes of segments: delete off the loop.
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, scratch, True))


def _scratch_dirs(work_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ladder-", dir=work_dir))
    out_dir = scratch / "out"
    out_dir.mkdir()
    return scratch, out_dir


def _scaled(on_progress: ProgressCallback | None) -> ProgressCallback | None:
    if on_progress is None:
        return None
    return lambda fraction: on_progress(fraction * ENCODE_SHARE)


def _finish(
    plan: LadderPlan, out_dir: Path, final_dir: Path, on_progress: ProgressCallback | None
) -> LadderResult:
    result = finalize_ladder(plan, out_dir)
    publish_directory(out_dir, final_dir)
    if on_progress is not None:
        on_progress(1.0)
    return LadderResult(
        final_dir, result.hls, result.dash, result.duration, result.renditions, result.segment_count
    )


def finalize_ladder(plan: LadderPlan, out_dir: Path) -> LadderResult:
    """Validate ffmpeg's output in ``out_dir`` and rewrite its playlists from measurements."""
    mpd_path = out_dir / MANIFEST_NAME
    if not mpd_path.is_file():
        raise TranscodeFailed("ffmpeg did not write a DASH manifest")
    root = parse_mpd(mpd_path.read_text("utf-8"))
    reps = [_measure(out_dir, rep_id, kind) for rep_id, kind in _representations(root)]
    videos = [rep for rep in reps if rep.kind == "video"]
    audios = [rep for rep in reps if rep.kind == "audio"]
    if len(videos) != len(plan.rungs) or len(audios) != int(plan.audio):
        raise TranscodeFailed("the manifest does not list the planned renditions")
    counts = {len(rep.playlist.segments) for rep in videos}
    if len(counts) > 1:
        raise TranscodeFailed(f"video renditions have unaligned segment counts {sorted(counts)}")
    for rep in reps:
        (out_dir / rep.playlist_name).write_text(write_vod_media_playlist(rep.playlist), "utf-8")
    _set_mpd_bandwidths(root, reps)
    mpd_path.write_text(serialize_mpd(root), "utf-8")
    renditions = _renditions(videos, audios[0] if audios else None)
    (out_dir / MASTER_NAME).write_text(_master_playlist(renditions, audios), "utf-8")
    segment_count = len((videos or audios)[0].playlist.segments)
    return LadderResult(out_dir, MASTER_NAME, MANIFEST_NAME, plan.duration, renditions, segment_count)


def _representations(root: Any) -> list[tuple[str, str]]:
    found = []
    for adaptation in root.iter(mpd_tag("AdaptationSet")):
        kind = adaptation.get("contentType") or ""
        for rep in adaptation.iter(mpd_tag("Representation")):
            mime = rep.get("mimeType") or adaptation.get("mimeType") or ""
            found.append((rep.get("id") or "", kind or mime.split("/")[0]))
    return sorted(found, key=lambda item: int(item[0]))


def _measure(out_dir: Path, rep_id: str, kind: str) -> _Representation:
    name = f"media_{rep_id}.m3u8"
    path = out_dir / name
    if not path.is_file():
        raise TranscodeFailed(f"missing HLS media playlist {name}")
    playlist = parse_media_playlist(path.read_text("utf-8"))
    if not playlist.segments or playlist.init_uri is None:
        raise TranscodeFailed(f"{name} has no segments")
    for uri in (playlist.init_uri, *(s.uri for s in playlist.segments)):
        file = out_dir / uri
        if "/" in uri or not file.is_file() or file.stat().st_size == 0:
            raise TranscodeFailed(f"{name} refers to a missing or empty segment {uri}")
    peak, average = playlist.bandwidth(out_dir)
    sample = (out_dir / playlist.init_uri).read_bytes() + (out_dir / playlist.segments[0].uri).read_bytes()
    try:
        with av.open(io.BytesIO(sample), format="mp4") as container:
            if kind == "video":
                video = container.streams.video[0]
                rate = video.average_rate or video.guessed_rate
                return _Representation(
                    rep_id, kind, name, playlist, peak, average, avc1_codec_string(video.codec_context.extradata),
                    int(video.codec_context.width), int(video.codec_context.height),
                    round(float(rate), 3) if rate else None,
                )  # fmt: skip
            audio = container.streams.audio[0]
            return _Representation(
                rep_id, "audio", name, playlist, peak, average, mp4a_codec_string(audio.codec_context.profile),
                channels=int(audio.codec_context.layout.nb_channels),
            )  # fmt: skip
    except (av.error.FFmpegError, IndexError) as exc:
        raise TranscodeFailed(f"cannot read back rendition {rep_id}: {exc}") from exc


def avc1_codec_string(extradata: bytes | None) -> str:
    """``avc1.PPCCLL`` from the avcC record (profile_idc, constraint flags, level_idc of the SPS)."""
    if not extradata or len(extradata) < 4 or extradata[0] != 1:
        raise TranscodeFailed("the H.264 rendition has no avcC configuration record")
    return f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"


def mp4a_codec_string(profile: str | None) -> str:
    if profile in ("HE-AAC", "HE-AACv2"):
        return "mp4a.40.5" if profile == "HE-AAC" else "mp4a.40.29"
    return "mp4a.40.2"  # AAC-LC, which is what we encode


def _renditions(videos: list[_Representation], audio: _Representation | None) -> tuple[Rendition, ...]:
    if not videos:
        assert audio is not None
        return (Rendition(None, None, audio.peak, audio.average, audio.codec, None, audio.playlist_name),)
    extra_peak = audio.peak if audio else 0
    extra_average = audio.average if audio else 0
    return tuple(
        Rendition(
            video.width, video.height, video.peak + extra_peak, video.average + extra_average,
            ",".join(c for c in (video.codec, audio.codec if audio else "") if c),
            video.frame_rate, video.playlist_name,
        )  # fmt: skip
        for video in videos
    )


def _master_playlist(renditions: tuple[Rendition, ...], audios: list[_Representation]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio_only = renditions[0].width is None
    if audios and not audio_only:
        audio = audios[0]
        lines.append(
            f"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID={quoted(AUDIO_GROUP)},NAME={quoted('Audio')},"
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="{audio.channels}",URI={quoted(audio.playlist_name)}'
        )
    for rendition in renditions:
        attributes = [f"BANDWIDTH={rendition.bandwidth}", f"AVERAGE-BANDWIDTH={rendition.average_bandwidth}"]
        if rendition.width is not None:
            attributes.append(f"RESOLUTION={rendition.width}x{rendition.height}")
        if rendition.frame_rate:
            attributes.append(f"FRAME-RATE={rendition.frame_rate:.3f}")
        attributes.append(f"CODECS={quoted(rendition.codecs)}")
        if audios and not audio_only:
            attributes.append(f"AUDIO={quoted(AUDIO_GROUP)}")
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(rendition.playlist)
    return "\n".join(lines) + "\n"


def _set_mpd_bandwidths(root: Any, reps: list[_Representation]) -> None:
    by_id = {rep.rep_id: rep for rep in reps}
    for element in root.iter(mpd_tag("Representation")):
        rep = by_id.get(element.get("id") or "")
        if rep is not None:
            element.set("bandwidth", str(rep.peak))
            element.set("codecs", rep.codec)


# -- publishing ------------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def publish_directory(staged: str | os.PathLike[str], final_dir: str | os.PathLike[str]) -> None:
    """Move ``staged`` to ``final_dir``, replacing an existing ``final_dir`` atomically.

    The new tree is first placed next to the target (``<final>.tmp-<id>``, same filesystem),
    then swapped in with one ``renameat2(RENAME_EXCHANGE)`` where Linux supports it, or two
    renames otherwise (readers might then briefly see no directory, never a partial one).
    """
    staged, final = Path(staged), Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    incoming = final.with_name(f"{final.name}.tmp-{token}")
    try:
        os.rename(staged, incoming)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copytree(staged, incoming)
    if not final.exists():
        os.replace(incoming, final)
        return
    if _exchange(incoming, final):
        shutil.rmtree(incoming, ignore_errors=True)  # now holds the previous ladder
        return
    previous = final.with_name(f"{final.name}.old-{token}")
    os.replace(final, previous)
    os.replace(incoming, final)
    shutil.rmtree(previous, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2: Callable[..., int] = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0
