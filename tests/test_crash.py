"""kill -9 of a real ``taichi-cloud serve``: during a transcode, and under a heartbeat load.

After a restart the interrupted transcode finishes, nothing partial was ever served, and every
heartbeat the server acknowledged is counted.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp

from taichi_cloud.media.samples import make_test_clip

from .media_helpers import decode_errors, metadata, sha1_header
from .test_ops_helpers import ServerProcess, add_user, instance_env

PASSWORD = "correct horse battery"


async def login(session: aiohttp.ClientSession, base: str, email: str) -> dict[str, str]:
    async with session.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def upload(session: aiohttp.ClientSession, base: str, headers: dict[str, str], data: bytes,
                 **meta: str) -> str:
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    async with session.post(f"{base}/api/v1/uploads", headers={
            **tus, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**meta)}) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
    async with session.patch(base + location if location.startswith("/") else location, data=data, headers={
            **tus, "Upload-Offset": "0", "Upload-Checksum": sha1_header(data),
            "Content-Type": "application/offset+octet-stream"}) as r:
        assert r.status == 204, await r.text()
        return r.headers["Taichi-Media-Id"]


async def media_state(session: aiohttp.ClientSession, base: str, headers: dict[str, str],
                      media_id: str) -> dict[str, Any]:
    async with session.get(f"{base}/api/v1/media/{media_id}", headers=headers) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def test_kill_9_during_a_transcode_serves_nothing_partial_and_the_job_finishes(tmp_path: Path) -> None:
    env = instance_env(tmp_path, job_lease_seconds="3")
    add_user(env, "curator@example.org", "curator", PASSWORD)
    clip = make_test_clip(tmp_path / "long.mp4", seconds=20, size="1280x720").read_bytes()
    async with aiohttp.ClientSession() as session:
        with ServerProcess(env, tmp_path / "first.log") as first:
            headers = await login(session, first.base_url, "curator@example.org")
            media_id = await upload(session, first.base_url, headers, clip, filename="long.mp4")
            for _ in range(600):
                state = await media_state(session, first.base_url, headers, media_id)
                if state["status"] == "transcoding" and state["progress"] > 0.05:
                    break
                assert state["status"] in ("uploaded", "probing", "transcoding"), state
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"never saw the transcode under way: {state}")
            async with session.get(f"{first.base_url}/streams/{media_id}/master.m3u8", headers=headers) as r:
                assert r.status in (403, 404)  # nothing is served before the whole set is published
            first.kill()  # SIGKILL: no cleanup, the job's lease simply stops being renewed

        published = tmp_path / "media" / "streams" / media_id
        assert not (published / "master.m3u8").exists()
        with ServerProcess(env, tmp_path / "second.log") as second:
            for _ in range(1800):
                state = await media_state(session, second.base_url, headers, media_id)
                if state["status"] in ("ready", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert state["status"] == "ready", (state, second.log()[-3000:])
            assert state["progress"] == 1.0 and state["renditions"]
            async with session.get(second.base_url + state["hls"], headers=headers) as r:
                assert r.status == 200
    for rendition in sorted(published.glob("*.m3u8")):
        if rendition.name != "master.m3u8":
            assert decode_errors(rendition) == ""


async def test_kill_9_under_heartbeat_load_keeps_every_acknowledged_heartbeat(tmp_path: Path) -> None:
    env = instance_env(tmp_path)
    add_user(env, "school@example.org", "school", PASSWORD)
    add_user(env, "curator@example.org", "curator", PASSWORD)
    add_user(env, "reviewer@example.org", "reviewer", PASSWORD)
    learners = [f"learner{i}@example.org" for i in range(12)]
    for email in learners:
        add_user(env, email, "learner", PASSWORD)
    acknowledged: dict[str, float] = {}
    errors: list[str] = []
    async with aiohttp.ClientSession() as session:
        with ServerProcess(env, tmp_path / "first.log") as first:
            base = first.base_url
            curator = await login(session, base, "curator@example.org")
            reviewer = await login(session, base, "reviewer@example.org")
            school = await login(session, base, "school@example.org")
            # A lesson whose duration (600 s) comes from its chapters: no media needed.
            async with session.post(f"{base}/api/v1/entries", headers=curator, json={
                    "kind": "video", "source_locale": "en", "translations": {"en": {"title": "Long form"}},
                    "chapters": [{"start": 0, "end": 600, "title": {"en": "All of it"}}]}) as r:
                entry = (await r.json())["id"]
            for to, who in (("review", curator), ("published", reviewer)):
                async with session.post(f"{base}/api/v1/entries/{entry}/transitions", headers=who, json={"to": to}) as r:
                    assert r.status == 200
            async with session.post(f"{base}/api/v1/courses", headers=school, json={
                    "translations": {"en": {"title": "Crash course"}},
                    "modules": [{"title": "One", "lessons": [{"entry": entry}]}]}) as r:
                assert r.status == 201, await r.text()
                course = await r.json()
            lesson = course["modules"][0]["lessons"][0]["id"]
            tokens = {}
            for email in learners:
                tokens[email] = await login(session, base, email)
                async with session.post(f"{base}/api/v1/courses/{course['id']}/enrollment", headers=tokens[email]) as r:
                    assert r.status in (200, 201)

            async def learner_loop(email: str) -> None:
                position = 0.0
                for seq in range(1, 10_000):
                    start, position = position, position + random.uniform(1.0, 3.0)
                    body = {"session": f"s-{email.split('@')[0]}", "seq": seq, "position": position,
                            "segments": [[start, position]], "duration": 600}
                    try:
                        async with session.put(f"{base}/api/v1/progress/{lesson}", headers=tokens[email], json=body) as r:
                            if r.status == 200:
                                acknowledged[email] = (await r.json())["watched_seconds"]
                            else:
                                errors.append(await r.text())
                    except (TimeoutError, aiohttp.ClientError):
                        return

            tasks = [asyncio.create_task(learner_loop(email)) for email in learners]
            await asyncio.sleep(3)
            first.kill()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert not errors, errors[:3]
        assert len(acknowledged) == len(learners) and all(v > 0 for v in acknowledged.values())

        with ServerProcess(env, tmp_path / "second.log") as second:
            for email in learners:
                headers = await login(session, second.base_url, email)
                async with session.get(f"{second.base_url}/api/v1/me/progress?course={course['id']}", headers=headers) as r:
                    mine = await r.json()
                (view,) = mine["modules"][0]["lessons"]
                # Every acknowledged heartbeat is durable; an unanswered one may or may not be.
                assert view["watched_seconds"] >= acknowledged[email] - 1e-6, (email, view, acknowledged[email])
