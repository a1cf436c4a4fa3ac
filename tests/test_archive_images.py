"""Archive photos and scans: uploaded through tus, re-encoded upright without metadata, shown with zoom."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from .media_helpers import tus_upload, wait_for_media
from .test_catalog import create, publish

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ARCHIVE = {"kind": "archive", "source_locale": "en", "archive_type": "photo",
           "translations": {"en": {"title": "A photograph of push hands"}},
           "dc": {"type": "StillImage", "rights": "Public domain"}}


def photo_with_exif(width: int = 1600, height: int = 900) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(0, width, 40):
        for y in range(0, height, 40):
            image.putpixel((x, y), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to show
    exif[0x013B] = "Secret Photographer"  # Artist: must not survive
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_an_archive_photo_becomes_upright_metadata_free_sizes_and_a_zoomable_page(client, make_user):
    curator, reviewer = await make_user("curator"), await make_user("reviewer")
    entry = await create(client, curator.headers, ARCHIVE)
    await publish(client, entry["id"], curator, reviewer)
    done = await tus_upload(client, curator.headers, photo_with_exif(), filename="photo.jpg",
                            filetype="image/jpeg", entry=entry["id"])
    media = await wait_for_media(client, done["Taichi-Media-Id"])
    assert media["status"] == "ready", media
    widths = sorted({i["width"] for i in media["images"]})
    assert widths == [320, 640, 900]  # upright: the 1600x900 photo is 900 wide once turned
    full = next(i for i in media["images"] if i["width"] == 900 and i["type"] == "image/jpeg")
    assert full["height"] == 1600
    r = await client.get(full["url"])
    assert r.status == 200 and r.content_type == "image/jpeg"
    shown = Image.open(io.BytesIO(await r.read()))
    assert shown.size == (900, 1600)
    assert not shown.getexif() and "exif" not in shown.info

    html = await (await client.get(f"/archives/{entry['id']}?lang=en")).text()
    assert 'data-zoom' in html and full["url"] in html and "640w" in html


async def test_a_decompression_bomb_fails_with_a_reason(client, make_user):
    curator = await make_user("curator")
    entry = await create(client, curator.headers, ARCHIVE)
    out = io.BytesIO()
    Image.new("1", (30000, 30000)).save(out, "PNG")  # tiny file, 900 megapixels
    done = await tus_upload(client, curator.headers, out.getvalue(), filename="bomb.png",
                            filetype="image/png", entry=entry["id"])
    media = await wait_for_media(client, done["Taichi-Media-Id"], curator.headers)
    assert media["status"] == "failed" and "pixels" in media["error"]
