"""tus 1.0.0 uploads at /api/v1/uploads, through real HTTP, with real ffmpeg behind them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import MakeUser, problem
from tests.media_helpers import TUS, Client, clip, metadata, sha1_header, tus_upload, wait_for_media


async def test_upload_becomes_ready_media_on_a_new_draft_entry(client: Client, make_user: MakeUser,
                                                               tmp_path: Path) -> None:
    curator = await make_user("curator")
    data = clip(tmp_path / "form.mp4").read_bytes()
    headers = await tus_upload(client, curator.headers, data, filename="form.mp4",
                               filetype="video/mp4")
    media_id, entry_id = headers["Taichi-Media-Id"], headers["Taichi-Entry-Id"]
    entry = await (await client.get(f"/api/v1/entries/{entry_id}", headers=curator.headers)).json()
    assert entry["status"] == "draft" and entry["kind"] == "video" and entry["title"] == "form.mp4"
    assert entry["media"]["id"] == media_id
    media = await wait_for_media(client, media_id, curator.headers)
    assert media["status"] == "ready", media["error"]
    assert media["duration"] == pytest.approx(2.0, abs=0.2)
    assert media["hls"].startswith(f"/streams/{media_id}/master.m3u8?token=")


async def test_options_advertises_tus_and_answers_cors_preflight(client: Client, settings: object) -> None:
    response = await client.options("/api/v1/uploads", headers={
        "Origin": "https://curators.example", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "upload-offset,tus-resumable"})
    assert response.status == 204
    h = response.headers
    assert h["Tus-Resumable"] == "1.0.0" and h["Tus-Version"] == "1.0.0"
    assert set(h["Tus-Extension"].split(",")) == {"creation", "creation-with-upload", "termination",
                                                  "checksum", "expiration"}
    assert int(h["Tus-Max-Size"]) == settings.max_upload_bytes  # type: ignore[attr-defined]
    assert "sha1" in h["Tus-Checksum-Algorithm"]
    assert h["Access-Control-Allow-Origin"] == "*"
    assert "Upload-Offset" in h["Access-Control-Allow-Headers"]
    assert "Upload-Offset" in h["Access-Control-Expose-Headers"]


async def test_only_curators_reviewers_and_admins_upload(client: Client, make_user: MakeUser) -> None:
    create = {**TUS, "Upload-Length": "10"}
    anonymous = await client.post("/api/v1/uploads", headers=create)
    assert anonymous.status == 401 and anonymous.headers["Tus-Resumable"] == "1.0.0"
    problem(await anonymous.json(), 401)
    learner = await make_user("learner")
    response = await client.post("/api/v1/uploads", headers={**create, **learner.headers})
    assert response.status == 403
    for role in ("reviewer", "admin"):
        user = await make_user(role)
        assert (await client.post("/api/v1/uploads", headers={**create, **user.headers})).status == 201


async def test_protocol_errors(client: Client, make_user: MakeUser, settings: object) -> None:
    curator = await make_user("curator")
    too_big = str(settings.max_upload_bytes + 1)  # type: ignore[attr-defined]
    response = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": too_big})
    assert response.status == 413
    problem(await response.json(), 413)
    no_version = await client.post("/api/v1/uploads", headers={**curator.headers,
                                                               "Upload-Length": "5"})
    assert no_version.status == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    bad_meta = await client.post("/api/v1/uploads", headers={
        **curator.headers, **TUS, "Upload-Length": "5", "Upload-Metadata": "filename ***"})
    assert bad_meta.status == 400
    missing_entry = await client.post("/api/v1/uploads", headers={
        **curator.headers, **TUS, "Upload-Length": "5", "Upload-Metadata": metadata(entry="nope")})
    assert missing_entry.status == 404

    created = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": "5"})
    location = created.headers["Location"]
    patch = {**curator.headers, **TUS, "Content-Type": "application/offset+octet-stream"}
    assert (await client.patch(location, data=b"abc", headers={**patch, "Upload-Offset": "2"})).status == 409
    wrong_type = await client.patch(location, data=b"abc", headers={
        **patch, "Upload-Offset": "0", "Content-Type": "application/json"})
    assert wrong_type.status == 415
    overflow = await client.patch(location, data=b"abcdefgh", headers={**patch, "Upload-Offset": "0"})
    assert overflow.status == 413
    other = await make_user("curator")
    assert (await client.head(location, headers={**other.headers, **TUS})).status == 404
    head = await client.head(location, headers={**curator.headers, **TUS})
    assert head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "5"
    assert head.headers["Cache-Control"] == "no-store" and "GMT" in head.headers["Upload-Expires"]


async def test_checksum_mismatch_is_460_and_keeps_the_offset(client: Client, make_user: MakeUser) -> None:
    curator = await make_user("curator")
    created = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": "8"})
    location = created.headers["Location"]
    patch = {**curator.headers, **TUS, "Content-Type": "application/offset+octet-stream",
             "Upload-Offset": "0"}
    bad = await client.patch(location, data=b"abcd", headers={**patch, "Upload-Checksum": sha1_header(b"abcx")})
    assert bad.status == 460
    head = await client.head(location, headers={**curator.headers, **TUS})
    assert head.headers["Upload-Offset"] == "0"
    unknown = await client.patch(location, data=b"abcd", headers={**patch, "Upload-Checksum": "crc32 AAAA"})
    assert unknown.status == 400
    good = await client.patch(location, data=b"abcd", headers={**patch, "Upload-Checksum": sha1_header(b"abcd")})
    assert good.status == 204 and good.headers["Upload-Offset"] == "4"


async def test_creation_with_upload_and_termination(client: Client, make_user: MakeUser,
                                                    tmp_path: Path) -> None:
    curator = await make_user("curator")
    entry = await client.post("/api/v1/entries", headers=curator.headers, json={
        "kind": "video", "translations": {"en": {"title": "Single Whip"}}})
    entry_id = (await entry.json())["id"]
    data = clip(tmp_path / "whip.mp4").read_bytes()
    response = await client.post("/api/v1/uploads", data=data, headers={
        **curator.headers, **TUS, "Upload-Length": str(len(data)),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": metadata(filename="../../etc/whip.mp4", entry=entry_id)})
    assert response.status == 201 and response.headers["Upload-Offset"] == str(len(data))
    media_id = response.headers["Taichi-Media-Id"]
    shown = await (await client.get(f"/api/v1/entries/{entry_id}", headers=curator.headers)).json()
    assert shown["media"]["id"] == media_id  # at once, before processing finishes
    media = await wait_for_media(client, media_id, curator.headers)
    assert media["status"] == "ready" and media["filename"] == "whip.mp4"

    created = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": "100"})
    location = created.headers["Location"]
    assert (await client.delete(location, headers={**curator.headers, **TUS})).status == 204
    assert (await client.head(location, headers={**curator.headers, **TUS})).status == 404


async def test_resume_after_an_interrupted_patch(client: Client, make_user: MakeUser,
                                                 tmp_path: Path) -> None:
    curator = await make_user("curator")
    data = clip(tmp_path / "push-hands.mp4").read_bytes()
    created = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": str(len(data))})
    location = created.headers["Location"]
    # A raw PATCH that promises every byte but sends only some, then the link drops.
    sent = len(data) // 3
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (f"PATCH {location} HTTP/1.1\r\nHost: {client.host}\r\n"
            f"Authorization: Bearer {curator.token}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    writer.write(head.encode() + data[:sent])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    offset = 0
    for _ in range(50):  # the server notices the drop, fsyncs and records what it kept
        response = await client.head(location, headers={**curator.headers, **TUS})
        offset = int(response.headers["Upload-Offset"])
        if offset:
            break
        await asyncio.sleep(0.1)
    assert 0 < offset <= sent
    final = await client.patch(location, data=data[offset:], headers={
        **curator.headers, **TUS, "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset), "Upload-Checksum": sha1_header(data[offset:])})
    assert final.status == 204 and final.headers["Upload-Offset"] == str(len(data))
    media = await wait_for_media(client, final.headers["Taichi-Media-Id"], curator.headers)
    assert media["status"] == "ready" and media["size"] == len(data)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_tuspy_client_uploads_and_resumes(client: Client, make_user: MakeUser,
                                                tmp_path: Path) -> None:
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError

    curator = await make_user("curator")
    path = clip(tmp_path / "tuspy.mp4")
    tus = tus_client.TusClient(str(client.make_url("/api/v1/uploads")), headers=curator.headers)

    def first_chunks() -> str:
        uploader = tus.uploader(str(path), chunk_size=16 * 1024, metadata={"filename": "tuspy.mp4"},
                                upload_checksum=True)
        uploader.upload_chunk()
        uploader.upload_chunk()
        return str(uploader.url)

    url = await asyncio.to_thread(first_chunks)
    path_only = url.split(str(client.port), 1)[1]
    head = await client.head(path_only, headers={**curator.headers, **TUS})
    assert head.headers["Upload-Offset"] == str(32 * 1024)

    def resume() -> int:
        uploader = tus.uploader(str(path), url=url, chunk_size=64 * 1024, upload_checksum=True)
        assert uploader.offset == 32 * 1024  # asked the server where to go on
        uploader.upload()
        return int(uploader.offset)

    assert await asyncio.to_thread(resume) == path.stat().st_size
    head = await client.head(path_only, headers={**curator.headers, **TUS})
    media = await wait_for_media(client, head.headers["Taichi-Media-Id"], curator.headers)
    assert media["status"] == "ready"
    with pytest.raises(TusCommunicationError):  # a learner's client is refused
        learner = await make_user("learner")
        refused = tus_client.TusClient(str(client.make_url("/api/v1/uploads")), headers=learner.headers)
        await asyncio.to_thread(lambda: refused.uploader(str(path), chunk_size=1024).upload())


async def test_stale_uploads_expire_and_are_cleaned_up(client: Client, make_user: MakeUser) -> None:
    from taichi_cloud.media.tables import uploads as table
    from taichi_cloud.media.tus import UPLOADS_KEY

    curator = await make_user("curator")
    created = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": "100"})
    location = created.headers["Location"]
    uploads = client.app[UPLOADS_KEY]
    upload_id = location.rsplit("/", 1)[1]
    assert uploads.part_path(upload_id).exists()
    long_ago = "2000-01-01T00:00:00.000000Z"
    async with uploads.db.write() as conn:  # an upload last touched long ago
        await conn.execute(table.update().where(table.c.id == upload_id).values(expires_at=long_ago))
    assert (await client.head(location, headers={**curator.headers, **TUS})).status == 410
    created = await client.post("/api/v1/uploads", headers={**curator.headers, **TUS,
                                                            "Upload-Length": "100"})
    second = created.headers["Location"].rsplit("/", 1)[1]
    async with uploads.db.write() as conn:
        await conn.execute(table.update().where(table.c.id == second).values(expires_at=long_ago))
    assert await uploads.remove_expired() == 1
    assert not uploads.part_path(second).exists()
