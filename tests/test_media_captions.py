"""Captions: SRT/WebVTT normalisation and sanitising, and their place in HLS and DASH manifests."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from taichi_cloud.errors import Invalid
from taichi_cloud.media.captions import (
    add_subtitles_to_master,
    add_subtitles_to_mpd,
    parse_captions,
    subtitle_playlist,
    to_webvtt,
)
from taichi_cloud.media.errors import CaptionRejected
from taichi_cloud.media.probe import probe_media
from taichi_cloud.media.samples import make_test_clip
from taichi_cloud.media.tools import ffmpeg_binary
from taichi_cloud.media.transcode import transcode_ladder

MPD = "{urn:mpeg:dash:schema:mpd:2011}"

SRT = (
    "\ufeff1\r\n"
    "00:00:01,000 --> 00:00:02,500 X1:10 X2:20 Y1:5 Y2:9\r\n"
    '<font color="red">Raise</font> the <i>hands</i> & "sink" a < b\r\n'
    "<script>alert(1)</script>\r\n"
    "\r\n"
    "2\r\n"
    "00:00:03,5 --> 00:00:04,000\r\n"
    "{\\an8}<b onclick=\"x()\">Step</b> forward\r\n"
    "\r\n"
).encode("utf-8")

VTT = """WEBVTT - Yang style, form 24
Kind: captions

STYLE
::cue { background: url(https://evil.example/x.png) }

NOTE the translator's private remark

REGION
id:left width:40%

intro
00:00.500 --> 00:02.000 align:start line:0 region:left position:10%,line-left bogus:1
<v.teacher Master Yang>Sink <c.yellow.big>the</c> qi</v> <lang zh-Hans>沉肩</lang>
<ruby>太<rt>tài</rt></ruby><00:01.500>极 <a href="javascript:x">link</a> <span style="x">s</span>

00:02.000 --> 00:01.000
end before start is dropped
""".encode()


def test_srt_becomes_clean_webvtt() -> None:
    vtt = to_webvtt(SRT)
    assert vtt.startswith("WEBVTT\n\n")
    assert "00:00:01.000 --> 00:00:02.500\n" in vtt  # SRT coordinates dropped
    assert "00:00:03.500 --> 00:00:04.000\n" in vtt  # one-digit milliseconds padded
    assert "Raise the <i>hands</i> &amp; \"sink\" a &lt; b" in vtt
    assert "<font" not in vtt and "<script" not in vtt and "onclick" not in vtt and "\\an8" not in vtt
    assert "<b>Step</b> forward" in vtt
    assert "\r" not in vtt and "\ufeff" not in vtt


def test_webvtt_is_sanitized() -> None:
    vtt = to_webvtt(VTT)
    assert "STYLE" not in vtt and "::cue" not in vtt and "evil" not in vtt
    assert "NOTE" not in vtt and "private" not in vtt and "REGION" not in vtt
    assert "00:00:00.500 --> 00:00:02.000 align:start line:0 position:10%,line-left\n" in vtt
    assert "<v Master Yang>Sink <c.yellow.big>the</c> qi</v> <lang zh-Hans>沉肩</lang>" in vtt
    assert "<ruby>太<rt>tài</rt></ruby><00:01.500>极 link s" in vtt
    assert "<a" not in vtt and "<span" not in vtt and "javascript" not in vtt
    assert "end before start" not in vtt
    assert [cue.start for cue in parse_captions(vtt.encode())] == [0.5]  # round-trips


def test_output_is_accepted_by_ffmpeg(tmp_path: Path) -> None:
    path = tmp_path / "captions.vtt"
    path.write_text(to_webvtt(SRT), "utf-8")
    result = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", str(path), "-f", "webvtt", "-"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stderr == ""
    assert "<b>Step</b> forward" in result.stdout


def test_legacy_encodings_and_utf16() -> None:
    chinese = "1\n00:00:01,000 --> 00:00:02,000\n白鹤亮翅\n"
    assert "白鹤亮翅" in to_webvtt(chinese.encode("gb18030"))
    assert "白鹤亮翅" in to_webvtt(chinese.encode("utf-16"))


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"   \n\n",
        b"just some words\nwithout any timing\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"WEBVTTX\n\n00:01.000 --> 00:02.000\nhi\n",
        b"1\n00:00:01,000 --> 00:00:02,000\n<script></script>\n",
    ],
)
def test_garbage_is_rejected(garbage: bytes) -> None:
    with pytest.raises(CaptionRejected) as caught:
        to_webvtt(garbage)
    assert isinstance(caught.value, Invalid)


def test_subtitle_playlist_wraps_the_vtt() -> None:
    playlist = m3u8.loads(subtitle_playlist("captions-en.vtt", 6.4))
    assert playlist.is_endlist and playlist.playlist_type == "vod"
    assert [(s.uri, s.duration) for s in playlist.segments] == [("captions-en.vtt", 6.4)]
    assert playlist.target_duration == 7


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("ladder")
    src = make_test_clip(tmp_path / "src.mp4", seconds=3, size="320x180")
    transcode_ladder(src, probe_media(src), tmp_path / "work", tmp_path / "out", preset="ultrafast")
    return tmp_path / "out"


TRACKS = [("en", "English", "subs-en.m3u8"), ("zh-Hans", '简体 "中文"', "subs-zh-Hans.m3u8")]


def test_master_gets_a_subtitle_group(ladder: Path) -> None:
    text = add_subtitles_to_master((ladder / "master.m3u8").read_text(), TRACKS)
    master = m3u8.loads(text)
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.uri, m.group_id) for m in subtitles] == [
        ("en", "subs-en.m3u8", "subs"),
        ("zh-Hans", "subs-zh-Hans.m3u8", "subs"),
    ]
    assert subtitles[1].name == "简体  中文" or '"' not in subtitles[1].name
    assert [m.default for m in subtitles] == ["YES", "NO"]
    assert all(p.stream_info.subtitles == "subs" for p in master.playlists)
    assert any(m.type == "AUDIO" for m in master.media)  # the rest is untouched
    # Idempotent: adding again replaces, never duplicates.
    again = m3u8.loads(add_subtitles_to_master(text, TRACKS[:1]))
    assert [m.language for m in again.media if m.type == "SUBTITLES"] == ["en"]
    assert all(p.stream_info.subtitles == "subs" for p in again.playlists)
    assert "SUBTITLES=" not in add_subtitles_to_master(text, [])


def test_hls_player_view_with_subtitles(ladder: Path) -> None:
    (ladder / "subs-en.vtt").write_text(to_webvtt(SRT), "utf-8")
    (ladder / "subs-en.m3u8").write_text(subtitle_playlist("subs-en.vtt", 3.0))
    master = ladder / "master-with-subs.m3u8"
    master.write_text(add_subtitles_to_master((ladder / "master.m3u8").read_text(), TRACKS[:1]))
    picture = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", str(master), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert picture.returncode == 0 and picture.stderr == ""
    # Reading only the subtitle rendition (ffmpeg may grumble about the skipped video packets).
    subtitles = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", str(master), "-map", "0:s:0", "-f", "webvtt", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert subtitles.returncode == 0
    assert "<b>Step</b> forward" in subtitles.stdout  # the player found and read the track


def test_mpd_gets_text_adaptation_sets(ladder: Path) -> None:
    tracks = [("en", "English", "subs-en.vtt"), ("zh-Hans", "简体中文", "subs-zh-Hans.vtt")]
    text = add_subtitles_to_mpd((ladder / "manifest.mpd").read_text(), tracks)
    root = ET.fromstring(text)
    assert root.tag == f"{MPD}MPD" and text.startswith("<?xml")
    sets = root.findall(f"{MPD}Period/{MPD}AdaptationSet")
    ids = [s.get("id") for s in sets]
    assert len(ids) == len(set(ids))
    text_sets = [s for s in sets if s.get("contentType") == "text"]
    assert [(s.get("lang"), s.get("mimeType")) for s in text_sets] == [("en", "text/vtt"), ("zh-Hans", "text/vtt")]
    for adaptation, (_, name, uri) in zip(text_sets, tracks, strict=True):
        assert adaptation.find(f"{MPD}Role").get("value") == "subtitle"  # type: ignore[union-attr]
        assert adaptation.find(f"{MPD}Label").text == name  # type: ignore[union-attr]
        rep = adaptation.find(f"{MPD}Representation")
        assert rep is not None and rep.get("bandwidth") and rep.findtext(f"{MPD}BaseURL") == uri
    again = ET.fromstring(add_subtitles_to_mpd(text, tracks[:1]))
    assert len([s for s in again.iter(f"{MPD}AdaptationSet") if s.get("contentType") == "text"]) == 1
    # Still a playable MPD for a DASH client (ffmpeg's own DASH reader only opens media
    # extensions unless told otherwise; browsers' dash.js reads text/vtt sets natively).
    (ladder / "with-subs.mpd").write_text(text, "utf-8")
    (ladder / "subs-en.vtt").write_text(to_webvtt(SRT), "utf-8")
    (ladder / "subs-zh-Hans.vtt").write_text(to_webvtt(SRT), "utf-8")
    result = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-allowed_extensions", "ALL", "-i", str(ladder / "with-subs.mpd"),
         "-map", "0:s:1", "-f", "webvtt", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "<b>Step</b> forward" in result.stdout


def test_bad_language_tags_are_refused(ladder: Path) -> None:
    with pytest.raises(ValueError):
        add_subtitles_to_master((ladder / "master.m3u8").read_text(), [('en",URI="x', "x", "y.m3u8")])
    with pytest.raises(ValueError):
        add_subtitles_to_mpd((ladder / "manifest.mpd").read_text(), [("<en>", "x", "y.vtt")])
