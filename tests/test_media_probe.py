"""Probing: what we accept, and the hostile files we must refuse without touching other files."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from taichi_cloud.errors import Invalid
from taichi_cloud.media.errors import MediaRejected
from taichi_cloud.media.probe import open_container, probe_media
from taichi_cloud.media.samples import make_test_clip
from taichi_cloud.media.tools import ffmpeg_binary


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", *args], check=True, capture_output=True)


def test_mp4_with_audio_and_video(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "clip.mp4", seconds=2, size="320x180", fps=25)
    probe = probe_media(clip)
    assert probe.format_name == "mov"
    assert probe.duration == pytest.approx(2.0, abs=0.1)
    assert probe.size == clip.stat().st_size
    assert probe.is_image is False
    assert probe.video is not None and probe.audio is not None
    assert (probe.video.codec, probe.video.width, probe.video.height) == ("h264", 320, 180)
    assert probe.video.fps == pytest.approx(25)
    assert probe.video.rotation == 0 and probe.video.pix_fmt == "yuv420p"
    assert probe.audio.codec == "aac" and probe.audio.sample_rate == 48000
    assert probe.as_dict()["video"]["width"] == 320


def test_audio_only_and_video_only(tmp_path: Path) -> None:
    wav = make_test_clip(tmp_path / "tone.wav", seconds=1, video=False, audio_codec=("-c:a", "pcm_s16le"))
    probe = probe_media(wav)
    assert probe.format_name == "wav" and probe.video is None
    assert probe.audio is not None and probe.audio.codec == "pcm_s16le"

    mkv = make_test_clip(tmp_path / "silent.mkv", seconds=1, size="160x120", audio=False)
    probe = probe_media(mkv)
    assert probe.format_name == "matroska" and probe.audio is None
    assert probe.video is not None and probe.video.width == 160


def test_rotated_phone_video_reports_display_size(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "phone.mp4", seconds=1, size="320x180", rotation=90)
    probe = probe_media(clip)
    assert probe.video is not None
    assert probe.video.rotation in (90, 270)
    assert probe.video.display_size == (180, 320)


def test_still_image_is_probed_with_pillow(tmp_path: Path) -> None:
    Image.new("RGB", (300, 200), (120, 30, 40)).save(tmp_path / "photo.jpg")
    probe = probe_media(tmp_path / "photo.jpg")
    assert probe.is_image and probe.format_name == "jpeg" and probe.audio is None
    assert probe.video is not None and (probe.video.width, probe.video.height) == (300, 200)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is just a note\n" * 20, "text"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"\x00\x01\x02garbage" * 100, "not a supported"),
    ],
)
def test_rejects_non_media(tmp_path: Path, content: bytes, reason: str) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(content)
    with pytest.raises(MediaRejected, match=reason) as caught:
        probe_media(upload)
    assert isinstance(caught.value, Invalid)


def _atime_is_tracked(tmp_path: Path) -> bool:
    control = tmp_path / "control"
    control.write_bytes(b"x" * 100)
    os.utime(control, (0, control.stat().st_mtime))
    control.read_bytes()
    return control.stat().st_atime > 0


def _secret_video(tmp_path: Path) -> Path:
    """A perfectly playable file that an uploaded playlist might try to pull in."""
    secret = make_test_clip(tmp_path / "secret.ts", seconds=1, size="64x64", audio=False)
    os.utime(secret, (0, secret.stat().st_mtime))  # atime 0: any read would move it
    return secret


@pytest.mark.parametrize(
    "template",
    [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n{secret}\n#EXTINF:4,\n/etc/passwd\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile '{secret}'\nfile '/etc/passwd'\n",
        # A binary comment sneaks the playlist past the text check: FFmpeg's whitelist must hold.
        b"#EXTM3U\n# \x00\x01\x02\xff\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n{secret}\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\n# \x00\x01\x02\xff\nfile '{secret}'\n",
    ],
    ids=["hls", "concat", "hls-binary", "concat-binary"],
)
def test_playlists_are_refused_without_opening_what_they_name(tmp_path: Path, template: bytes) -> None:
    secret = _secret_video(tmp_path)
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(template.replace(b"{secret}", os.fsencode(secret)))
    with pytest.raises(MediaRejected):
        probe_media(upload)
    if _atime_is_tracked(tmp_path):
        assert secret.stat().st_atime == 0, "the referenced file was read"


def test_the_whitelist_itself_refuses_hls(tmp_path: Path) -> None:
    secret = _secret_video(tmp_path)
    playlist = tmp_path / "p.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaRejected):
        open_container(playlist)  # detection restricted to our demuxers
    with pytest.raises(MediaRejected):
        open_container(playlist, "hls")  # and no explicit escape hatch
    if _atime_is_tracked(tmp_path):
        assert secret.stat().st_atime == 0


def _riff_chunk(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def _riff_list(kind: bytes, *chunks: bytes) -> bytes:
    return _riff_chunk(b"LIST", kind + b"".join(chunks))


def test_avi_with_gab2_embedded_playlist_is_refused(tmp_path: Path) -> None:
    """The GAB2 trick: an AVI subtitle stream whose payload is an HLS playlist."""
    secret = _secret_video(tmp_path)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n".encode()
    gab2 = b"GAB2\x00" + struct.pack("<H", 2) + struct.pack("<I", 2) + b"a\x00"
    gab2 += struct.pack("<H", 4) + struct.pack("<I", len(playlist)) + playlist
    avih = struct.pack("<14I", 40000, 0, 0, 0x10, 1, 0, 1, 0, 64, 64, 0, 0, 0, 0)
    strh = b"txts" + b"\x00" * 4 + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0)
    strl = _riff_list(b"strl", _riff_chunk(b"strh", strh), _riff_chunk(b"strf", b"\x00" * 4))
    header = _riff_list(b"hdrl", _riff_chunk(b"avih", avih), strl)
    movi = _riff_list(b"movi", _riff_chunk(b"00tx", gab2))
    upload = tmp_path / "upload.avi"
    upload.write_bytes(_riff_chunk(b"RIFF", b"AVI " + header + movi))
    with open_container(upload) as container:  # read every packet, as a transcoder would
        for _ in container.demux():
            pass
        # The GAB2 header was parsed (its description became the title): the trick was live.
        assert container.streams[0].metadata.get("title") == "a"
    with pytest.raises(MediaRejected):
        probe_media(upload)
    if _atime_is_tracked(tmp_path):
        assert secret.stat().st_atime == 0


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "clip.mp4", seconds=2, size="160x120")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # moov is at the end
    with pytest.raises(MediaRejected):
        probe_media(broken)


def test_truncated_faststart_file_is_refused(tmp_path: Path) -> None:
    # The index (moov) comes first, so the header looks fine; only the media data is missing.
    clip = make_test_clip(tmp_path / "clip.mp4", seconds=20, size="160x120", extra=("-movflags", "+faststart"))
    assert probe_media(clip).duration == pytest.approx(20, abs=0.1)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    with pytest.raises(MediaRejected, match="truncated"):
        probe_media(broken)


def test_demuxers_off_the_list_are_refused(tmp_path: Path) -> None:
    flv = make_test_clip(tmp_path / "clip.flv", seconds=1, size="160x120", audio=False)
    with pytest.raises(MediaRejected, match="not a supported"):
        probe_media(flv)
    raw_h264 = make_test_clip(tmp_path / "clip.h264", seconds=1, size="160x120", audio=False)
    with pytest.raises(MediaRejected):
        probe_media(raw_h264)


def test_unsupported_codec_is_refused(tmp_path: Path) -> None:
    clip = make_test_clip(
        tmp_path / "raw.avi", seconds=0.2, size="32x32", audio=False, video_codec=("-c:v", "rawvideo")
    )
    with pytest.raises(MediaRejected, match="codec"):
        probe_media(clip)


def test_absurd_dimensions_are_refused(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "wide.mkv", seconds=0.1, size="8200x16", fps=10, audio=False)
    with pytest.raises(MediaRejected, match="8192"):
        probe_media(clip)


def test_absurd_duration_is_refused(tmp_path: Path) -> None:
    # Two frames 50 000 s (almost 14 h) apart: tiny file, absurd duration.
    clip = tmp_path / "long.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=s=32x32:r=1:d=2", "-vf", "setpts=PTS*50000", "-fps_mode", "passthrough",
           "-c:v", "libx264", "-preset", "ultrafast", str(clip))  # fmt: skip
    with pytest.raises(MediaRejected, match="hours"):
        probe_media(clip)


@pytest.mark.parametrize(
    ("name", "video_codec", "audio_codec", "demuxer"),
    [
        ("clip.webm", ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"), ("-c:a", "libopus"), "matroska"),
        ("clip.ts", ("-c:v", "libx264", "-preset", "ultrafast"), ("-c:a", "aac"), "mpegts"),
        ("clip.avi", ("-c:v", "mpeg4"), ("-c:a", "libmp3lame"), "avi"),
        ("tone.mp3", None, ("-c:a", "libmp3lame"), "mp3"),
        ("tone.flac", None, ("-c:a", "flac"), "flac"),
        ("tone.ogg", None, ("-c:a", "libvorbis"), "ogg"),
        ("tone.m4a", None, ("-c:a", "aac"), "mov"),
    ],
)
def test_every_accepted_container(
    tmp_path: Path, name: str, video_codec: tuple[str, ...] | None, audio_codec: tuple[str, ...], demuxer: str
) -> None:
    clip = make_test_clip(
        tmp_path / name, seconds=1, size="160x120", video=video_codec is not None,
        video_codec=video_codec or (), audio_codec=audio_codec,
    )  # fmt: skip
    probe = probe_media(clip)
    assert probe.format_name == demuxer
    assert probe.audio is not None and probe.duration == pytest.approx(1.0, abs=0.15)
    assert (probe.video is not None) == (video_codec is not None)
