"""xAPI Video Profile statements from heartbeats, and forwarding to an external LRS."""

from __future__ import annotations

import asyncio
import base64
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from taichi_cloud.app import create_app
from taichi_cloud.keys import ACCOUNTS, COURSES
from tests.conftest import Account
from tests.test_courses_helpers import beat, course, enrol, lesson_ids, video

EXT = "https://w3id.org/xapi/video/extensions/"
VERBS = {
    "initialized": "http://adlnet.gov/expapi/verbs/initialized",
    "played": "https://w3id.org/xapi/video/verbs/played",
    "paused": "https://w3id.org/xapi/video/verbs/paused",
    "seeked": "https://w3id.org/xapi/video/verbs/seeked",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "terminated": "http://adlnet.gov/expapi/verbs/terminated",
}
SEGMENTS_RE = re.compile(r"^(\d+(\.\d+)?\[\.\]\d+(\.\d+)?)(\[,\]\d+(\.\d+)?\[\.\]\d+(\.\d+)?)*$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# Result extensions the Video Profile requires per verb.
REQUIRED_RESULT = {
    "played": {"time"}, "paused": {"time", "progress", "played-segments"},
    "seeked": {"time-from", "time-to"}, "terminated": {"time", "progress", "played-segments"},
    "completed": {"time", "progress", "played-segments"}, "initialized": set(),
}


def check_statement(s: dict) -> str:
    """Assert the xAPI 1.0.3 and Video Profile requirements; return the verb's short name."""
    assert UUID_RE.match(s["id"]) and s["version"] == "1.0.3"
    assert s["actor"]["objectType"] == "Agent" and s["actor"]["account"]["name"]
    verb = next(name for name, iri in VERBS.items() if iri == s["verb"]["id"])
    assert s["object"]["definition"]["type"] == "https://w3id.org/xapi/video/activity-type/video"
    categories = [a["id"] for a in s["context"]["contextActivities"]["category"]]
    assert "https://w3id.org/xapi/video" in categories
    ctx = s["context"]["extensions"]
    assert ctx[EXT + "session-id"] and ctx[EXT + "length"] > 0
    assert 0 < ctx[EXT + "completion-threshold"] <= 1
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", s["timestamp"])
    result = s.get("result", {}).get("extensions", {})
    assert {EXT + k for k in REQUIRED_RESULT[verb]} <= set(result)
    if EXT + "played-segments" in result:
        assert SEGMENTS_RE.match(result[EXT + "played-segments"]), result
        assert 0 <= result[EXT + "progress"] <= 1
    if verb == "completed":
        assert s["result"]["completion"] is True and s["result"]["duration"].startswith("PT")
    return verb


async def _watch(client, make_user):
    school = curator = await make_user("curator")
    entry = await video(client, curator, "Brush knee", 100.0)
    created = await course(client, school, [[entry]])
    (lesson,) = lesson_ids(created)
    learner = await make_user("learner")
    await enrol(client, created["id"], learner)
    await beat(client, learner, lesson, "tab1", 1, 0, [], event="play")
    await beat(client, learner, lesson, "tab1", 2, 40, [[0, 40]])
    await beat(client, learner, lesson, "tab1", 3, 45, [[40, 41]], event="seek", **{"from": 41})
    await beat(client, learner, lesson, "tab1", 4, 45, [], event="pause")
    await beat(client, learner, lesson, "tab1", 4, 45, [], event="pause")  # replay: no new statement
    await beat(client, learner, lesson, "tab1", 5, 100, [[45, 100]], event="ended")
    await beat(client, learner, lesson, "tab1", 6, 100, [], event="terminate")
    return school, created, learner, lesson


async def test_heartbeats_become_video_profile_statements(client, make_user):
    school, created, learner, _ = await _watch(client, make_user)
    r = await client.get("/api/v1/xapi/statements", headers=learner.headers)
    assert r.status == 200 and r.headers["X-Experience-API-Version"] == "1.0.3"
    statements = (await r.json())["statements"]
    verbs = [check_statement(s) for s in statements]
    assert verbs == ["initialized", "played", "seeked", "paused", "paused", "completed", "terminated"]
    seek = statements[2]["result"]["extensions"]
    assert seek[EXT + "time-from"] == 41 and seek[EXT + "time-to"] == 45
    pause = statements[3]["result"]["extensions"]
    assert pause[EXT + "played-segments"] == "0[.]41" and pause[EXT + "progress"] == 0.41
    done = statements[5]
    assert done["result"]["extensions"][EXT + "played-segments"] == "0[.]41[,]45[.]100"
    assert done["context"]["extensions"][EXT + "completion-threshold"] == 0.9
    assert done["context"]["extensions"][EXT + "length"] == 100
    assert all(s["context"]["contextActivities"]["parent"][0]["id"].endswith(created["id"])
               for s in statements)
    # since= pages forward; the owner reads the course's statements
    later = await (await client.get("/api/v1/xapi/statements", params={"since": statements[2]["stored"]},
                                    headers=learner.headers)).json()
    assert [s["id"] for s in later["statements"]] == [s["id"] for s in statements[3:]]
    owner = await (await client.get("/api/v1/xapi/statements", params={"course": created["id"]},
                                    headers=school.headers)).json()
    assert len(owner["statements"]) == len(statements)
    r = await client.get("/api/v1/xapi/statements?since=yesterday", headers=learner.headers)
    assert r.status == 400


async def test_statements_are_forwarded_to_an_lrs_with_retries(settings, make_lrs):
    lrs, received, auth = make_lrs
    app = create_app(settings.replace(xapi_lrs_endpoint=str(lrs.make_url("/xapi/statements")),
                                      xapi_lrs_username="school", xapi_lrs_password="s3cret"))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        app[COURSES].forwarder.base_delay = 0.05
        async def user(role):
            u = await app[ACCOUNTS].create_user(f"{role}@lrs.example", "correct horse battery", role, role)
            return Account(u.id, u.email, role, await app[ACCOUNTS].issue_token(u.id))

        school, curator, learner = await user("school"), await user("curator"), await user("learner")
        entry = await video(client, curator, "Fan through the back", 50.0)
        created = await course(client, school, [[entry]])
        (lesson,) = lesson_ids(created)
        await enrol(client, created["id"], learner)
        await beat(client, learner, lesson, "s", 1, 0, [], event="play")
        await beat(client, learner, lesson, "s", 2, 50, [[0, 50]], event="ended")
        for _ in range(200):
            if len(received) >= 4 and await app[COURSES].forwarder.pending() == 0:
                break
            await asyncio.sleep(0.05)
        assert await app[COURSES].forwarder.pending() == 0
        verbs = [check_statement({**s, "stored": "x"}) for s in received]
        assert sorted(verbs) == sorted(["initialized", "played", "paused", "completed"])
        assert len({s["id"] for s in received}) == 4
        assert auth[0] == "Basic " + base64.b64encode(b"school:s3cret").decode()
        assert all("stored" not in s for s in received)
        assert lrs.failures_left == 0  # the first attempts failed and were retried
    finally:
        await client.close()


class _Lrs:
    failures_left = 2


@pytest.fixture
async def make_lrs():
    """A tiny LRS on 127.0.0.1 that fails twice with 503, then stores what it is sent."""
    received: list[dict] = []
    auth: list[str] = []
    state = _Lrs()

    async def statements(request: web.Request) -> web.Response:
        assert request.headers["X-Experience-API-Version"] == "1.0.3"
        auth.append(request.headers.get("Authorization", ""))
        if state.failures_left > 0:
            state.failures_left -= 1
            return web.Response(status=503, text="warming up")
        body = await request.json()
        for s in body if isinstance(body, list) else [body]:
            if s["id"] not in {x["id"] for x in received}:
                received.append(s)
        return web.json_response([s["id"] for s in body], status=200)

    lrs_app = web.Application()
    lrs_app.router.add_post("/xapi/statements", statements)
    server = TestServer(lrs_app, host="127.0.0.1")
    await server.start_server()

    class Handle:
        def make_url(self, path):
            return server.make_url(path)

        @property
        def failures_left(self):
            return state.failures_left

    try:
        yield Handle(), received, auth
    finally:
        await server.close()
