"""Posters, storyboards and archive thumbnails."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageStat

from taichi_cloud.media.errors import MediaRejected
from taichi_cloud.media.images import (
    build_storyboard,
    frame_score,
    make_thumbnails,
    pick_poster,
    pick_poster_frame,
    write_posters,
)
from taichi_cloud.media.probe import probe_media
from taichi_cloud.media.samples import make_test_clip
from taichi_cloud.media.tools import ffmpeg_binary


def clip_black_blurred_sharp(path: Path) -> Path:
    """2 s black, 2 s heavily blurred picture, 2 s sharp picture."""
    graph = (
        "color=black:s=320x180:r=25:d=2[k];"
        "testsrc2=s=320x180:r=25:d=2,gblur=sigma=30[b];"
        "testsrc2=s=320x180:r=25:d=2[s];"
        "[k][b][s]concat=n=3:v=1:a=0"
    )
    subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", graph,
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def test_poster_skips_black_and_blurred_frames(tmp_path: Path) -> None:
    src = clip_black_blurred_sharp(tmp_path / "clip.mp4")
    probe = probe_media(src)
    choice = pick_poster_frame(src, probe)
    assert 4.0 <= choice.time < 6.0, choice.time
    assert choice.score > 0 and choice.image.size == (320, 180)
    luma = ImageStat.Stat(choice.image.convert("L"))
    assert luma.mean[0] > 30 and luma.stddev[0] > 20
    assert frame_score(Image.new("RGB", (64, 64))) == 0  # black
    blurred = choice.image.filter(ImageFilter.GaussianBlur(12))
    assert frame_score(blurred) < choice.score


def test_posters_written_full_and_small(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "clip.mp4", seconds=2, size="960x540", audio=False)
    written = write_posters(pick_poster(src, probe_media(src)), tmp_path / "posters")
    by_name = {w.path.name: w for w in written}
    assert set(by_name) == {"poster.jpg", "poster.webp", "poster-640.jpg", "poster-640.webp"}
    assert (by_name["poster.jpg"].width, by_name["poster.jpg"].height) == (960, 540)
    with Image.open(tmp_path / "posters" / "poster-640.webp") as small:
        assert small.format == "WEBP" and small.size == (640, 360)


def test_poster_of_rotated_video_is_upright(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "phone.mp4", seconds=2, size="320x180", rotation=90)
    assert pick_poster(src, probe_media(src)).size == (180, 320)


def test_storyboard_sprite_and_vtt(tmp_path: Path) -> None:
    src = make_test_clip(tmp_path / "clip.mp4", seconds=5, size="640x360", audio=False)
    board = build_storyboard(src, probe_media(src), tmp_path / "sb", interval=1.0, tile_w=160, columns=3)
    assert (board.count, board.columns, board.tile_width, board.tile_height) == (5, 3, 160, 90)
    with Image.open(board.sprite) as sprite:
        assert sprite.format == "JPEG" and sprite.size == (3 * 160, 2 * 90)
        tiles = [sprite.crop((x, y, x + 160, y + 90)) for x, y in [(0, 0), (160, 0), (320, 0), (0, 90), (160, 90)]]
    # testsrc2 moves over time: neighbouring tiles differ, and none is empty.
    assert all(ImageStat.Stat(tile.convert("L")).stddev[0] > 10 for tile in tiles)
    assert ImageStat.Stat(Image.blend(tiles[0], tiles[4], 0.5)).mean != ImageStat.Stat(tiles[0]).mean
    vtt = board.vtt.read_text()
    assert vtt.startswith("WEBVTT")
    cues = re.findall(r"(\S+) --> (\S+)\n(\S+)", vtt)
    assert cues[0] == ("00:00:00.000", "00:00:01.000", "storyboard.jpg#xywh=0,0,160,90")
    assert cues[4] == ("00:00:04.000", "00:00:05.000", "storyboard.jpg#xywh=160,90,160,90")
    assert len(cues) == 5


def _photo_with_exif(path: Path) -> None:
    image = Image.new("RGB", (800, 400), (200, 40, 40))
    image.paste((20, 20, 200), (0, 0, 200, 400))  # a blue band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # GPS latitude
    image.save(path, "JPEG", exif=exif.tobytes(), comment=b"secret comment")


def test_thumbnails_are_upright_and_stripped(tmp_path: Path) -> None:
    _photo_with_exif(tmp_path / "photo.jpg")
    written = make_thumbnails(tmp_path / "photo.jpg", tmp_path / "thumbs")
    names = sorted(w.path.name for w in written)
    assert names == ["image-320.jpg", "image-320.webp", "image.jpg", "image.webp"]
    for item in written:
        with Image.open(item.path) as image:
            assert image.size == (item.width, item.height)
            assert len(image.getexif()) == 0 and "comment" not in image.info and "exif" not in image.info
            assert image.height > image.width  # orientation applied to the pixels
            top = image.convert("RGB").getpixel((image.width // 2, 2))
            assert isinstance(top, tuple) and top[2] > 150  # the blue band is now on top
        assert b"SpyCam" not in item.path.read_bytes()


def test_transparent_png_thumbnails(tmp_path: Path) -> None:
    Image.new("RGBA", (700, 300), (0, 0, 0, 0)).save(tmp_path / "logo.png")
    written = {w.path.name: w for w in make_thumbnails(tmp_path / "logo.png", tmp_path / "t")}
    with Image.open(written["image.jpg"].path) as flat:
        assert flat.mode == "RGB" and flat.getpixel((5, 5)) == (255, 255, 255)
    with Image.open(written["image-640.webp"].path) as webp:
        assert webp.mode == "RGBA" and webp.size == (640, 274)


def _png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bomb.png", _png_header_claiming(30000, 30000), "megapixels|too many pixels"),
        ("wide.png", _png_header_claiming(60000, 10), "megapixels"),
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
        ("fake.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50, "damaged|not a supported"),
        ("notes.txt", b"not an image at all", "not a supported"),
    ],
)
def test_hostile_images_are_rejected(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaRejected, match=reason):
        make_thumbnails(path, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    Image.effect_noise((800, 600), 64).convert("RGB").save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaRejected):
        make_thumbnails(tmp_path / "cut.jpg", tmp_path / "out")


def test_sixteen_bit_scan_and_cmyk_are_normalised(tmp_path: Path) -> None:
    Image.new("I;16", (500, 300), 40000).save(tmp_path / "scan.png")
    written = {w.path.name: w for w in make_thumbnails(tmp_path / "scan.png", tmp_path / "a")}
    with Image.open(written["image.jpg"].path) as scan:
        grey = scan.getpixel((10, 10))
        assert scan.mode == "RGB" and isinstance(grey, tuple) and abs(grey[0] - 40000 / 256) < 3
    Image.new("CMYK", (400, 300), (0, 255, 255, 0)).save(tmp_path / "print.jpg")
    written = {w.path.name: w for w in make_thumbnails(tmp_path / "print.jpg", tmp_path / "b")}
    with Image.open(written["image.webp"].path) as red:
        pixel = red.getpixel((10, 10))
        assert red.mode == "RGB" and isinstance(pixel, tuple) and pixel[0] > 200 and pixel[1] < 40
