"""Posters, storyboards and archive-image thumbnails (PyAV + Pillow).

Every picture we publish is re-encoded by us: metadata (EXIF, GPS, XMP, comments) is dropped,
the EXIF orientation is applied to the pixels, and files Pillow finds suspicious are refused.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageFilter, ImageOps, ImageStat, UnidentifiedImageError

from taichi_cloud.media.errors import MediaRejected
from taichi_cloud.media.probe import MAX_IMAGE_PIXELS, ProbeResult, open_container

ALLOWED_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
MAX_IMAGE_SIDE = 20_000
POSTER_CANDIDATES = 8
POSTER_SMALL_WIDTH = 640
THUMBNAIL_WIDTHS = (1280, 640, 320)
MAX_STORYBOARD_TILES = 400
_SEEK_GAP_SECONDS = 5.0  # decode forward rather than seek when the next sample is this close


@dataclass(frozen=True, slots=True)
class WrittenImage:
    path: Path
    width: int
    height: int
    mime: str


@dataclass(frozen=True, slots=True)
class PosterChoice:
    image: Image.Image
    time: float  # seconds into the video
    score: float  # 0 when every candidate was black, flat or blurred


@dataclass(frozen=True, slots=True)
class Storyboard:
    sprite: Path
    vtt: Path
    interval: float
    count: int
    columns: int
    tile_width: int
    tile_height: int


# -- archive images --------------------------------------------------------------------------


@contextmanager
def open_image_checked(path: str | os.PathLike[str]) -> Iterator[Image.Image]:
    """Open an untrusted still image, or raise ``MediaRejected``; the image is fully loaded."""
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        raise MediaRejected("SVG images are not accepted")
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=ALLOWED_IMAGE_FORMATS) as header_only:
                _check_image_size(header_only)
                header_only.verify()
            image = Image.open(path, formats=ALLOWED_IMAGE_FORMATS)
            _check_image_size(image)
            image.load()
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected("the image has too many pixels (decompression bomb?)") from exc
    except UnidentifiedImageError as exc:
        raise MediaRejected("not a supported image (accepted: JPEG, PNG, WebP, GIF, TIFF)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaRejected("the image is damaged or truncated") from exc
    try:
        yield image
    finally:
        image.close()


def _check_image_size(image: Image.Image) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaRejected("the image has no size")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise MediaRejected(f"images larger than {MAX_IMAGE_PIXELS // 1_000_000} megapixels are not accepted")


def make_thumbnails(path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[WrittenImage]:
    """Re-encode an archive image (upright, metadata stripped) plus 1280/640/320 px variants."""
    with open_image_checked(path) as image:
        upright = ImageOps.exif_transpose(image)
        clean = _plain_rgb_or_rgba(upright)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = _save_pair(clean, target / "image")
    for width in THUMBNAIL_WIDTHS:
        if width < clean.width:
            written += _save_pair(_resized_to_width(clean, width), target / f"image-{width}")
    return written


def _plain_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Pixels only, in sRGB: a fresh image, so no EXIF/XMP/comment/ICC chunk can ride along."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode.startswith("I"):  # 16/32-bit greyscale scans: scale down to 8 bits
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    converted = _to_srgb(image, "RGBA" if has_alpha else "RGB")
    fresh = Image.new(converted.mode, converted.size)
    fresh.paste(converted)
    return fresh


def _to_srgb(image: Image.Image, mode: str) -> Image.Image:
    """Apply an embedded colour profile (wide-gamut cameras, CMYK scans) before dropping it."""
    icc = image.info.get("icc_profile")
    if icc and mode == "RGB" and image.mode in ("RGB", "CMYK", "L"):
        try:
            from PIL import ImageCms

            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source_profile, srgb, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImportError, OSError, ValueError, ImageCms.PyCMSError):
            pass  # a broken profile: fall back to a plain conversion
    return image.convert(mode)


def _resized_to_width(image: Image.Image, width: int) -> Image.Image:
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _save_pair(image: Image.Image, stem: Path) -> list[WrittenImage]:
    jpeg_source = image
    if image.mode == "RGBA":  # JPEG has no alpha: flatten onto white
        jpeg_source = Image.new("RGB", image.size, (255, 255, 255))
        jpeg_source.paste(image, mask=image.getchannel("A"))
    jpeg_path, webp_path = stem.with_suffix(".jpg"), stem.with_suffix(".webp")
    jpeg_source.save(jpeg_path, "JPEG", quality=85, optimize=True, progressive=True)
    image.save(webp_path, "WEBP", quality=80, method=4)
    return [
        WrittenImage(jpeg_path, image.width, image.height, "image/jpeg"),
        WrittenImage(webp_path, image.width, image.height, "image/webp"),
    ]


# -- video frames ----------------------------------------------------------------------------


def frame_to_image(frame: Any, display_size: tuple[int, int] | None = None) -> Image.Image:
    """A decoded frame as the viewer sees it: rotated by its display matrix, square pixels."""
    image: Image.Image = frame.to_image()
    rotation = int(round(float(getattr(frame, "rotation", 0) or 0))) % 360
    if rotation:
        image = image.rotate(rotation, expand=True)
    if display_size is not None and image.size != display_size:
        image = image.resize(display_size, Image.Resampling.BICUBIC)
    return image


def _frames_at(container: Any, stream: Any, times: list[float]) -> Iterator[tuple[float, Any]]:
    """The first frame at or after each (sorted) time; seeks only across large gaps.

    Past the end of the stream the last decoded frame is repeated.
    """
    time_base = float(stream.time_base)
    decoder: Iterator[Any] | None = None
    current: Any = None
    for wanted in times:
        if decoder is None or current is None or wanted - _frame_time(current, wanted) > _SEEK_GAP_SECONDS:
            try:
                container.seek(int(wanted / time_base), stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError:
                pass  # unseekable: decode forward from where we are
            decoder = iter(container.decode(stream))
            current = None
        while current is None or _frame_time(current, wanted) + 1e-3 < wanted:
            following = _next_frame(decoder)
            if following is None:
                break
            current = following
        if current is not None:
            yield wanted, current


def _frame_time(frame: Any, default: float) -> float:
    return float(frame.time) if frame.time is not None else default


def _next_frame(decoder: Iterator[Any]) -> Any:
    try:
        return next(decoder)
    except (StopIteration, av.error.FFmpegError):
        return None


def _video_stream(container: Any) -> Any:
    attached = av.stream.Disposition.attached_pic
    stream = next(s for s in container.streams.video if not (s.disposition & attached))
    stream.thread_type = "AUTO"
    return stream


def frame_score(image: Image.Image) -> float:
    """Higher is a better poster; 0 for black, blown-out, flat or blurred frames."""
    gray = image.convert("L")
    gray.thumbnail((320, 320))
    stats = ImageStat.Stat(gray)
    mean, spread = stats.mean[0], stats.stddev[0]
    if mean < 24 or mean > 232 or spread < 12:
        return 0.0
    sharpness = ImageStat.Stat(gray.filter(ImageFilter.FIND_EDGES)).var[0]
    if sharpness < 30:
        return 0.0
    return math.sqrt(sharpness) * min(spread, 64.0)


def pick_poster_frame(src: str | os.PathLike[str], probe: ProbeResult) -> PosterChoice:
    if probe.video is None:
        raise ValueError("a poster needs a video stream")
    times = [probe.duration * (i + 0.5) / POSTER_CANDIDATES for i in range(POSTER_CANDIDATES)]
    best: PosterChoice | None = None
    with open_container(src, probe.format_name) as container:
        stream = _video_stream(container)
        for time, frame in _frames_at(container, stream, times):
            image = frame_to_image(frame, probe.video.display_size)
            choice = PosterChoice(image, time, frame_score(image))
            if best is None or choice.score > best.score:
                best = choice
    if best is None:
        raise MediaRejected("no frame of the video could be decoded for a poster")
    return best


def pick_poster(src: str | os.PathLike[str], probe: ProbeResult) -> Image.Image:
    """The most poster-worthy of ~8 frames spread over the video."""
    return pick_poster_frame(src, probe).image


def write_posters(image: Image.Image, out_dir: str | os.PathLike[str], stem: str = "poster") -> list[WrittenImage]:
    """``poster.jpg``/``.webp`` at full size and ``poster-640.jpg``/``.webp``."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    clean = _plain_rgb_or_rgba(image)
    written = _save_pair(clean, target / stem)
    small = _resized_to_width(clean, POSTER_SMALL_WIDTH) if clean.width > POSTER_SMALL_WIDTH else clean
    written += _save_pair(small, target / f"{stem}-{POSTER_SMALL_WIDTH}")
    return written


def build_storyboard(
    src: str | os.PathLike[str],
    probe: ProbeResult,
    out_dir: str | os.PathLike[str],
    interval: float | None = None,
    tile_w: int = 160,
    columns: int = 10,
) -> Storyboard:
    """A sprite of thumbnails every ``interval`` seconds and the WebVTT that indexes it."""
    if probe.video is None:
        raise ValueError("a storyboard needs a video stream")
    duration = probe.duration
    if interval is None:
        interval = max(1.0, duration / 100)
    interval = max(interval, duration / MAX_STORYBOARD_TILES, 0.1)
    count = max(1, math.ceil(duration / interval - 1e-9))
    display_w, display_h = probe.video.display_size
    tile_h = max(2, round(tile_w * display_h / display_w / 2) * 2)
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    sprite = Image.new("RGB", (columns * tile_w, rows * tile_h))
    times = [min(i * interval, max(0.0, duration - 0.05)) for i in range(count)]
    with open_container(src, probe.format_name) as container:
        stream = _video_stream(container)
        for index, (_, frame) in enumerate(_frames_at(container, stream, times)):
            tile = frame_to_image(frame).resize((tile_w, tile_h), Image.Resampling.BILINEAR)
            sprite.paste(tile, ((index % columns) * tile_w, (index // columns) * tile_h))
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    sprite_path, vtt_path = target / "storyboard.jpg", target / "storyboard.vtt"
    sprite.save(sprite_path, "JPEG", quality=70, optimize=True)
    cues = ["WEBVTT", ""]
    for index in range(count):
        start, end = index * interval, min((index + 1) * interval, duration)
        x, y = (index % columns) * tile_w, (index // columns) * tile_h
        cues += [f"{_vtt_time(start)} --> {_vtt_time(end)}", f"{sprite_path.name}#xywh={x},{y},{tile_w},{tile_h}", ""]
    vtt_path.write_text("\n".join(cues), "utf-8")
    return Storyboard(sprite_path, vtt_path, interval, count, columns, tile_w, tile_h)


def _vtt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
